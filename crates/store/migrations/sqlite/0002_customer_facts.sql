-- Customer value tiers (seed 003): what the business knows about each customer, and
-- the tier computed from it (crates/server/src/customers.rs, domain::tier).
--
-- A customer first seen on the WebSocket has none of these facts: the fact columns
-- stay NULL and the tier is 'new' until an import or an update fills them in.

-- Average orders per month.
ALTER TABLE customers ADD COLUMN orders_per_month REAL CHECK (orders_per_month >= 0);
-- Money contributed in total, in the business's currency.
ALTER TABLE customers ADD COLUMN money REAL CHECK (money >= 0);
-- ISO dates (YYYY-MM-DD), which sort and compare as text.
ALTER TABLE customers ADD COLUMN registered_on TEXT;
-- NULL: never ordered.
ALTER TABLE customers ADD COLUMN last_order_on TEXT;
-- 0 (worst) to 100 (best); NULL: unknown.
ALTER TABLE customers ADD COLUMN credit INTEGER CHECK (credit BETWEEN 0 AND 100);
-- One of the nine tier names of domain::tier::Tier.
ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'new';
-- Unix ms of the last change to the facts; strictly increasing per customer, so a
-- recomputation of all tiers can tell that a row changed while it was computing.
ALTER TABLE customers ADD COLUMN updated_at INTEGER;

CREATE INDEX customers_by_tier ON customers (tier, phone);
