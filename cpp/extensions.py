"""Extension objects, created unbound and initialised in create_app."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
mail = Mail()
# Storage comes from RATELIMIT_STORAGE_URI: memory:// for one process, redis://... for several.
limiter = Limiter(key_func=get_remote_address)
