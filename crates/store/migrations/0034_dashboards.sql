-- Saved dashboards (issue 14, item 4): a person composes one from widgets with filters and
-- saves it under a name, private or shared; its id is its URL (`/dashboards/ID`). `widgets` is
-- the widget names in order, comma-separated; `period_from`/`period_to` are both NULL for "the
-- last 30 days up to when it is opened". Saved and deleted with their audit event.
CREATE TABLE dashboards (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  shared BIGINT NOT NULL,
  widgets TEXT NOT NULL,
  project TEXT,
  environment TEXT,
  period_from TEXT,
  period_to TEXT,
  saved_at TEXT NOT NULL,
  UNIQUE (owner, name)
);
