-- The schema the releases before migrations created (cpp/payments/ledger.py and
-- cpp/shared_state/sqlite_backend.py at commit a0bf96d), to write a ledger "from last year".
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL UNIQUE,
    customer_code TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    customer_email TEXT,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    state TEXT NOT NULL,
    transport_key TEXT UNIQUE,
    validation_key TEXT,
    cayan_token TEXT,
    authorization_code TEXT,
    card_type TEXT,
    card_last4 TEXT,
    approved_cents INTEGER,
    pims_payment_id TEXT,
    failure_reason TEXT,
    receipt_status TEXT NOT NULL DEFAULT 'none',
    receipt_attempts INTEGER NOT NULL DEFAULT 0,
    receipt_next_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    approved_at TEXT,
    posted_at TEXT
);
CREATE INDEX IF NOT EXISTS payments_by_customer ON payments(customer_code, state);
CREATE INDEX IF NOT EXISTS payments_by_state ON payments(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS payment_invoices (
    payment_id INTEGER NOT NULL REFERENCES payments(id),
    invoice_number TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    location TEXT,
    description TEXT,
    invoice_date TEXT,
    PRIMARY KEY (payment_id, invoice_number)
);
CREATE INDEX IF NOT EXISTS payment_invoices_by_number ON payment_invoices(invoice_number);
CREATE TABLE IF NOT EXISTS payment_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id INTEGER NOT NULL REFERENCES payments(id),
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_sessions (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_by_expiry ON web_sessions(expires_at);
CREATE TABLE IF NOT EXISTS login_attempts (
    key TEXT PRIMARY KEY,
    hits INTEGER NOT NULL,
    window_start REAL NOT NULL
);
