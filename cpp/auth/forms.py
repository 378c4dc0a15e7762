from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

# PIMS customer codes are short and plain; anything else cannot be an account number.
# \Z, not $: in a Python pattern $ also matches before a final newline.
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*\Z"


class LoginForm(FlaskForm):
    account = StringField(
        _l("Account #"),
        validators=[
            DataRequired(_l("Enter your account number.")),
            Length(max=40, message=_l("Account numbers are at most 40 characters.")),
            Regexp(ACCOUNT_PATTERN, message=_l("Account numbers use only letters, digits and - . / _")),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "username", "autocapitalize": "characters",
                   "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")),
                    Length(max=128, message=_l("Passwords are at most 128 characters.")),
                    # A tab, newline or other control character cannot be part of a password
                    # typed at a keyboard; PIMS would only fault on it.
                    Regexp(r"^[^\x00-\x1f\x7f]*\Z",
                           message=_l("Your password contains a character that can't be typed "
                                      "in a password. Please type it again."))],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Log In"))
