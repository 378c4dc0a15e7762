"""Extension objects, created unbound and initialised in create_app."""
from flask_login import LoginManager
from flask_mail import Mail
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
mail = Mail()
