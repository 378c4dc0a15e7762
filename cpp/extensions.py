"""Extension objects, created unbound and initialised in create_app."""
from flask_login import LoginManager
from flask_mail import Mail

from .csrf import OriginCheckingCSRFProtect

csrf = OriginCheckingCSRFProtect()
login_manager = LoginManager()
mail = Mail()
