"""A realistic Finnish slice of a RIPE-like registry, and the visitors of one night.

Statuses as RIPE assigns them: ISPs hold ``ALLOCATED PA`` blocks, partitioned
(``LIR-PARTITIONED PA``) and sub-allocated to resellers (``SUB-ALLOCATED PA``);
their pools and their business customers' connections are ``ASSIGNED PA``
inside — the customer named in the ``descr`` (with or without an organisation
object of its own, or with the ISP's); companies, cities and universities
with their own space hold ``ASSIGNED PI``. The names carry the trap words
that a naive keyword rule falls into: kaapeli, asiakas, kaupunki, mobiili, colo.
The organisations are invented; the addresses are only numbers here.
"""

from __future__ import annotations

from tests.rdap_registry import Inetnum, inetnum

ELISA, TELIA, DNA = "Elisa Oyj", "Telia Finland Oyj", "DNA Oyj"

OBJECTS: list[Inetnum] = [
    # Elisa: an allocation, its pools, a partition for business customers and a reseller
    inetnum("88.112.0.0/12", "FI-ELISA-20040101", "ALLOCATED PA", ELISA),
    inetnum("88.112.0.0/16", "ELISA-DSL-POOL", "ASSIGNED PA", ELISA, ("Elisa Oyj dynamic DSL pool",)),
    inetnum("88.113.0.0/16", "ELISA-KAAPELI-ASIAKKAAT", "ASSIGNED PA", ELISA, ("Kaapelimodeemiasiakkaat",)),
    inetnum("88.120.0.0/14", "ELISA-BUSINESS", "LIR-PARTITIONED PA", ELISA, ("Elisa business customers",)),
    inetnum("88.120.10.0/29", "KALLIODATA-NET", "ASSIGNED PA", None, ("Kalliodata Oy", "Helsinki")),
    inetnum("88.120.11.0/28", "KAAPELITEHDAS-NET", "ASSIGNED PA", ELISA, ("Kaapelitehdas Oy",)),
    inetnum("88.120.12.0/27", "ASIAKASTIETO-HKI", "ASSIGNED PA", "Asiakastieto Oy"),
    inetnum("88.120.13.0/29", "MOBIILIVARMENNE", "ASSIGNED PA", ELISA, ("Mobiilivarmenne Oy", "Espoo")),
    inetnum("88.120.14.0/29", "ELISA-CUST-4711", "ASSIGNED PA", ELISA, ("Konepaja Virtanen",)),
    inetnum("88.121.0.0/16", "KUITUVERKKO-LAPPI", "SUB-ALLOCATED PA", "Kuituverkko Lappi Oy"),
    inetnum("88.121.5.0/29", "KAUPUNKILIIKENNE", "ASSIGNED PA", None, ("Kaupunkiliikenne Oy",)),
    inetnum("88.121.6.0/24", "KUITU-KOTI", "ASSIGNED PA", "Kuituverkko Lappi Oy",
            ("Kuituverkko Lappi Oy residential fibre",)),
    inetnum("88.124.0.0/15", "ELISA-MOBILE-CGNAT", "ASSIGNED PA", ELISA),
    # Telia
    inetnum("80.220.0.0/14", "FI-TELIA-19990101", "ALLOCATED PA", TELIA),
    inetnum("80.220.0.0/16", "TELIA-FTTH-DYNAMIC", "ASSIGNED PA", TELIA),
    inetnum("80.221.8.0/29", "SOFTCOLOR", "ASSIGNED PA", TELIA, ("Softcolor Oy",)),
    inetnum("80.221.9.0/28", "COLO-TAMPERE", "ASSIGNED PA", TELIA, ("Telia colocation Tampere",)),
    inetnum("80.221.10.0/29", "HKI-KAUPUNKI", "ASSIGNED PA", TELIA, ("Helsingin kaupunki",)),
    # DNA
    inetnum("62.78.96.0/19", "FI-DNA-20080101", "ALLOCATED PA", DNA),
    inetnum("62.78.100.0/22", "DNA-MOBILE-CGNAT", "ASSIGNED PA", DNA),
    inetnum("62.78.110.0/29", "DNA-YRITYS-0042", "ASSIGNED PA", DNA, ("Kaapelikanava Media Oy", "Tampere")),
    # Provider-independent space of companies, a city and a university; a cloud
    inetnum("193.64.10.0/24", "MOBIILITIIMI-NET", "ASSIGNED PI", "Mobiilitiimi Oy"),
    inetnum("193.64.20.0/24", "COLOSSEUM-NET", "ASSIGNED PI", "Colosseum Consulting Oy"),
    inetnum("193.64.30.0/23", "HEL-CITY", "ASSIGNED PI", "Helsingin kaupunki"),
    inetnum("193.64.40.0/22", "UH-NET", "ASSIGNED PI", "Helsingin yliopisto"),
    inetnum("95.216.0.0/16", "HETZNER-FI-HEL1", "ASSIGNED PA", "Hetzner Online GmbH"),
    # IPv6: Elisa's allocation and a customer's /48 (the same company as on IPv4)
    inetnum("2001:14b8::/29", "FI-ELISA-V6", "ALLOCATED-BY-RIR", ELISA),
    inetnum("2001:14b8:100::/48", "KALLIODATA-V6", "ASSIGNED", None, ("Kalliodata Oy",)),
]

#: Every company a careful human finds behind the visits below from the registry alone. ("Konepaja
#: Virtanen", named without a legal form, is somebody only the trade register can confirm.)
COMPANIES = {
    "Kalliodata Oy", "Kaapelitehdas Oy", "Asiakastieto Oy", "Mobiilivarmenne Oy",
    "Kaupunkiliikenne Oy", "Softcolor Oy", "Kaapelikanava Media Oy", "Mobiilitiimi Oy", "Colosseum Consulting Oy",
}
#: Organisations that visit but are no lead, and what they are.
NOT_COMPANIES = {"Helsingin kaupunki": "government", "Helsingin yliopisto": "education"}

#: (address, pageviews): one night's visitors. The busiest sit where only an allocation or a
#: partition holds them (infrastructure, unassigned space), so the registry's first answers
#: are ranges that may hold customers.
VISITORS: list[tuple[str, int]] = [
    ("88.120.200.9", 12), ("88.112.200.1", 11), ("80.222.5.5", 10), ("62.78.120.1", 9), ("2001:14b8:ffff::1", 9),
    ("88.120.10.2", 3), ("88.120.10.5", 2), ("88.120.11.7", 3), ("88.120.12.20", 2), ("88.120.13.3", 4),
    ("88.120.14.2", 2), ("88.121.5.4", 3), ("80.221.8.2", 5), ("62.78.110.3", 2), ("193.64.10.77", 3),
    ("193.64.20.5", 2), ("2001:14b8:100::42", 2),
    ("88.112.1.1", 1), ("88.112.9.9", 1), ("88.113.4.4", 1), ("88.121.6.10", 1), ("88.124.7.7", 1),
    ("88.125.1.1", 1), ("80.220.3.3", 1), ("80.221.9.9", 1), ("80.221.10.3", 2), ("62.78.101.1", 1),
    ("193.64.30.8", 2), ("193.64.41.1", 2), ("95.216.7.7", 1),
]
