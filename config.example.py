# Customer Payment Portal configuration.
#
# Copy this file to instance/config.py (or point CPP_CONFIG at a copy) and fill it in.
# Every key can also be set as an environment variable named CPP_<KEY>, which wins over this
# file: e.g. CPP_SECRET_KEY, CPP_PIMS_PASSWORD. Keep secrets out of version control.
#
# With NOTHING configured (no PIMS_URL and no Cayan credentials) `python app.py` runs in demo
# mode on built-in sandbox services. As soon as PIMS_URL or any Cayan credential is set the
# portal is in production mode: the sandbox is unreachable and every key marked REQUIRED must
# be set, or the portal refuses to start and names what is missing.

# --- The portal -----------------------------------------------------------------------------
# REQUIRED. Signs session cookies. A long random string, e.g. from
#   python -c "import secrets; print(secrets.token_hex(32))"
SECRET_KEY = None
# REQUIRED. The address customers use, e.g. "https://pay.yourshop.com". Links and the address
# Cayan sends customers back to are built from this, never from the request's Host header.
PUBLIC_URL = None
# The portal's own database: the payment ledger, sessions and login counters. A file path is
# a SQLite file (default: instance/cpp.sqlite3; nothing to install; it upgrades itself at
# start). For several machines, a PostgreSQL URL, e.g. "postgresql://cpp:secret@db.local/cpp":
# create the database, then run `flask --app app cpp db upgrade` once per release. Back it up.
DATABASE = None
# Shown on every page, on Cayan's card page and in receipts. SHOP_LOGO is a path on this portal
# (e.g. "/static/img/logo.png", put the file in cpp/static/img/) or an https:// URL on your own
# website, which the Content-Security-Policy then allows as an image source. Use a PNG or JPEG:
# Gmail and Outlook do not show SVG images, so an SVG logo is left out of email receipts.
SHOP_NAME = "Our Shop"
SHOP_LOGO = None
# How customers reach you: shown on the login page, on every page's footer, on error pages,
# payment results and receipts, wherever a customer is asked to call the shop. A location's own
# phone/email in LOCATIONS is shown instead for that location's invoices.
SHOP_PHONE = None
SHOP_EMAIL = None
SHOP_ADDRESS = None
# Money and date formats (Babel locale), the currency of your PIMS amounts, and the time zone
# payment times are shown in (an IANA name such as "America/Chicago").
LOCALE = "en_US"
CURRENCY = "USD"
TIMEZONE = "UTC"
# Customers' pages are in English and Spanish: a switch on every page, else the browser's
# language, else this ("en" or "es").
DEFAULT_LANGUAGE = "en"
# How money and dates read in Spanish (a Babel locale): "es" gives 1.234,56 US$; "es_US"
# keeps US-style figures ($1,234.56).
LANGUAGE_LOCALES = {"es": "es"}
# Your locations, keyed by the PIMS location code on invoices. name/address/phone/email appear
# in the invoice list, results and receipts; the mail_* keys override the shop-wide sender per
# location.
LOCATIONS = {
    # "MAIN": {
    #     "name": "Your Shop - Main Street",
    #     "address": "120 Main Street, Springfield, IL 62701",
    #     "phone": "(217) 555-0142",
    #     "email": "main@yourshop.com",
    #     "mail_sender": "main@yourshop.com",
    #     "mail_sender_name": "Your Shop - Main Street",
    #     "mail_reply_to": "frontdesk@yourshop.com",
    # },
}

# --- PIMS Web Services Module (see docs/pims-contract.md) ------------------------------------
# REQUIRED. The portal endpoint of your PIMS Web Services Module. Must be https:// unless PIMS
# runs on this same machine (http://127.0.0.1/... or http://localhost/...).
PIMS_URL = None
# REQUIRED. The web-services user the portal logs in as (WS-Security UsernameToken).
PIMS_USERNAME = None
PIMS_PASSWORD = None
# Seconds to wait for PIMS before showing "payments are temporarily unavailable".
PIMS_TIMEOUT = 10.0

# --- Cayan (TSYS) MerchantWare ---------------------------------------------------------------
# REQUIRED. Your merchant credentials from Cayan.
CAYAN_MERCHANT_NAME = None
CAYAN_MERCHANT_SITE_ID = None
CAYAN_MERCHANT_KEY = None
# Cayan's endpoints. The defaults are Cayan's real services; change them only for testing
# against the sandbox (`flask --app app sandbox all`).
CAYAN_TRANSPORT_URL = "https://transport.merchantware.net/v4/transportService.asmx"
CAYAN_TRANSPORTWEB_URL = "https://transport.merchantware.net/v4/transportweb.aspx"
CAYAN_REPORTING_URL = "https://ps1.merchantware.net/Merchantware/ws/TransactionHistory/v4/Reporting.asmx"
CAYAN_CREDIT_URL = "https://ps1.merchantware.net/Merchantware/ws/RetailTransaction/v45/Credit.asmx"
# Seconds to wait for Cayan.
CAYAN_TIMEOUT = 20.0
# Minutes after which a payment whose customer never came back from Cayan's page is expired
# (only once Cayan confirms nothing was charged), freeing its invoices.
PAYMENT_TIMEOUT = 30
# Cayan's card page cannot be withdrawn, so a tab left open on it can still charge a card after
# its payment expired or was replaced by a newer Pay Bill. Such payments are looked up for this
# many hours, and a late charge is voided automatically.
LATE_CHARGE_HOURS = 24
# Tries at posting a charged payment to PIMS (or voiding a wrong-amount charge) before it is
# marked needs-attention for staff. Retries back off from 1 minute to 4 hours apart.
MAX_ATTEMPTS = 8
# Run reconciliation inside the portal every this many seconds (the default; 0: off, only if
# you schedule `flask --app app cpp reconcile` every few minutes with cron or the Windows Task
# Scheduler instead). Without either, a customer who pays and closes the tab before coming
# back stays charged and unposted until their next Pay Bill.
RECONCILE_EVERY = 300

# --- Email receipts (Flask-Mail) -------------------------------------------------------------
MAIL_SERVER = "localhost"
MAIL_PORT = 25
# STARTTLS (usually port 587) or SSL (465); the server's certificate must be valid for
# MAIL_SERVER. `flask --app app cpp check` says "certificate problem" when it is not.
MAIL_USE_TLS = False
MAIL_USE_SSL = False
MAIL_USERNAME = None
MAIL_PASSWORD = None
# The shop-wide sender: an address, or ("Name", "address").
MAIL_DEFAULT_SENDER = None
# Optional shop-wide Reply-To for receipts.
MAIL_REPLY_TO = None
# Seconds to wait for each answer of the mail server (a whole send: three times this, then once
# more for its answer to the message); when it is down the receipt is kept and retried.
MAIL_TIMEOUT = 10.0

# --- Sessions and limits ---------------------------------------------------------------------
# Minutes of inactivity after which a customer is logged out, and the longest a login lasts.
SESSION_IDLE_MINUTES = 15
SESSION_MAX_HOURS = 8
# Failed logins allowed per account (after which it is locked for the rest of the window) and
# per client address. Both give the same message whether or not the account exists. Every
# attempt is counted before PIMS is asked, so the limits are exact however many arrive at once.
LOGIN_ACCOUNT_LIMIT = "5 per 15 minutes"
LOGIN_ADDRESS_LIMIT = "20 per 15 minutes"
# Sessions, failed-login counts and the reconcile lock live in the DATABASE, shared by every
# portal process that uses it. To keep them in Redis instead, name a Redis server here, e.g.
# "redis://127.0.0.1:6379/0".
REDIS_URL = None
# How many reverse proxies (IIS, nginx) stand in front of the portal, one behind the other.
# Their X-Forwarded-For and X-Forwarded-Proto headers are believed only when this is set, and
# only from TRUSTED_PROXY_ADDRESSES. 0: no proxy. Behind a proxy this MUST be set: otherwise
# the portal sees every customer as the proxy's address and cannot tell they used HTTPS.
TRUSTED_PROXIES = 0
# Where those proxies connect from: addresses or CIDR ranges. The default is this machine,
# which is right when IIS or nginx runs on the portal's own server.
TRUSTED_PROXY_ADDRESSES = ["127.0.0.1", "::1"]
# Redirect every plain-HTTP request to PUBLIC_URL's https:// address.
FORCE_HTTPS = False
# Largest request body accepted, in bytes.
MAX_CONTENT_LENGTH = 65536
# Sites allowed to show the portal in a frame (your own website), e.g.
# ["https://www.yourshop.com"]. Empty: nobody may frame it.
EMBED_ALLOWED_ORIGINS = []

# --- Partial payments --------------------------------------------------------------------
# Let customers pay part of an invoice: they change the amount of a ticked invoice, from
# MIN_PARTIAL_AMOUNT (or the whole balance, when that is less) up to its balance due.
ALLOW_PARTIAL_PAYMENTS = False
MIN_PARTIAL_AMOUNT = "5.00"

# --- The counter kiosk --------------------------------------------------------------------
# True: every browser is a counter kiosk (big buttons, Start over, nothing kept between
# customers, receipts by email only). Usually leave it False and turn single tablets into
# kiosks from the staff dashboard (Manage Settings > Counter kiosk).
KIOSK_MODE = False
# A kiosk starts over after this many seconds without a touch (at least 15).
KIOSK_IDLE_SECONDS = 90

# --- Pay links (docs/pay-links.md) --------------------------------------------------------
# A secret of its own, at least 32 random characters, not SECRET_KEY; without it pay links
# are off. Make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"
# Changing it takes back every link ever made.
LINK_SECRET = None
# How many days a new link works.
LINK_DAYS = 30
# Ids of single links taken back (`flask --app app cpp link` prints each link's id).
LINK_REVOKED = []

# --- The staff dashboard (/staff) -----------------------------------------------------------
# Make the first owner with: flask --app app cpp staff add you@yourshop.com --role owner
# A staff session ends after this many idle minutes, and after this many hours in any case.
STAFF_SESSION_IDLE_MINUTES = 30
STAFF_SESSION_MAX_HOURS = 12
# Addresses and ranges that may open the dashboard, e.g. ["192.168.1.0/24", "203.0.113.7"].
# Empty: any address. Owners can change it under Manage Settings; if you lock yourself out,
# run: flask --app app cpp staff allow-ip YOUR.ADDRESS
STAFF_ALLOWED_IPS = []
# Who gets an email (once per payment) when a payment needs attention.
STAFF_ALERT_EMAILS = []  # e.g. ["owner@yourshop.com"]
# Seconds a write to the DATABASE waits for another process's write before giving up.
DATABASE_TIMEOUT = 10.0
# Log level for the portal's own logs ("cpp" and the "cpp.audit" trail).
LOG_LEVEL = "INFO"
