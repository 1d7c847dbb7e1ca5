-- 006: the trade register (YTJ) kept locally: entries from the bulk file or the
-- API, the name searches already asked, and company ids merged into one.
CREATE TABLE register_companies (
    business_id           VARCHAR PRIMARY KEY,
    name                  VARCHAR NOT NULL,
    all_names             VARCHAR[] NOT NULL,     -- current, former, parallel, auxiliary
    normalised_names      VARCHAR[] NOT NULL,     -- the same, normalised for matching
    company_form          VARCHAR,
    industry_code         VARCHAR,
    industry_code_set     VARCHAR,                -- TOIMI3 (TOL 2008) or TOIMI4 (TOL 2025)
    industry              VARCHAR,
    city                  VARCHAR,
    post_code             VARCHAR,
    website               VARCHAR,
    status                VARCHAR,
    trade_register_status VARCHAR,
    register_status       VARCHAR,                -- active | ended DATE | the company situations
    active                BOOLEAN NOT NULL,
    end_date              DATE,
    last_modified         TIMESTAMP,
    source                VARCHAR NOT NULL,       -- bulk | api
    fetched_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ
);

CREATE TABLE register_queries (
    kind         VARCHAR NOT NULL,                -- name | business_id
    query        VARCHAR NOT NULL,
    location     VARCHAR NOT NULL DEFAULT '',
    business_ids VARCHAR[] NOT NULL,
    asked_at     TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, query, location)
);

-- When two organisation keys turn out to be one registered company, the later
-- one becomes an alias of the first: no Business ID appears twice in companies.
CREATE TABLE company_aliases (
    alias_id   VARCHAR PRIMARY KEY,
    company_id VARCHAR NOT NULL
);

ALTER TABLE companies ADD COLUMN industry_code_set VARCHAR;
ALTER TABLE companies ADD COLUMN register_checked_at TIMESTAMPTZ;
ALTER TABLE companies ADD COLUMN matched_name VARCHAR;   -- the register name the match rests on
