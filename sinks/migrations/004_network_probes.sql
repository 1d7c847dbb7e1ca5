-- 004: /24 (IPv4) and /48 (IPv6) blocks already asked about inside a broad
-- allocation. A hit on a broad range is provisional (a smaller assignment may
-- hold the address), but once a block has been asked, the answer stands until
-- the range expires: one request per block, not one per night.
CREATE TABLE network_probes (
    network_id VARCHAR NOT NULL,
    block      UHUGEINT NOT NULL,
    probed_at  TIMESTAMPTZ NOT NULL
);
