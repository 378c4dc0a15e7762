"""The staff dashboard's forms. Their CSRF token is the staff session's, checked for every POST
by cpp.staff.access.guard, so Flask-WTF's own (customer-session) token is off here."""
from __future__ import annotations

from email_validator import EmailNotValidError
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from ..email_address import sendable
from .accounts import ROLES


class Sendable:
    """An address the portal's mail can use, checked as customers' are (cpp.email_address):
    wtforms' Email let through an accented name (zoë@…), which every receipt from that
    sender then failed on, silently."""

    def __call__(self, form, field) -> None:
        text = (field.data or "").strip()
        if text:
            try:
                sendable(text)
            except EmailNotValidError as exc:
                raise ValidationError(f"That address can't be used for email: {exc}") from None


# A name that goes into a mail header: one line.
ONE_LINE = Regexp(r"^[^\x00-\x1f\x7f]*\Z", message="Keep it to one line, without tabs or "
                  "other control characters.")


class StaffForm(FlaskForm):
    class Meta:
        csrf = False

    def problems(self) -> str:
        """Every field's complaint in one line, for a form posted from a page it is not on."""
        return " ".join(message for errors in self.errors.values() for message in errors)


class SignInForm(StaffForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."),
                                            Length(max=254)],
                       render_kw={"autocomplete": "username", "spellcheck": "false"})
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=200)],
                             render_kw={"autocomplete": "current-password"})


class CodeForm(StaffForm):
    code = StringField("6-digit code from your authenticator app",
                       validators=[DataRequired("Enter the code from your app."),
                                   Regexp(r"^\s*\d{3}\s?\d{3}\s*$",
                                          message="The code is 6 digits.")],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                                  "spellcheck": "false"})


class NewPasswordForm(StaffForm):
    password = PasswordField("New password", validators=[DataRequired("Enter a password."),
                                                         Length(max=200)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("New password again",
                            validators=[EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[
        DataRequired("Enter your current password."), Length(max=200)],
        render_kw={"autocomplete": "current-password"})


class AddStaffForm(NewPasswordForm):
    email = EmailField("Email", validators=[DataRequired("Enter their email address."),
                                            Email("That is not an email address."),
                                            Length(max=254)])
    role = SelectField("Role", choices=[SelectChoice(role, role.title()) for role in ROLES])


class ResolveForm(StaffForm):
    note = TextAreaField("What was done in PIMS", validators=[
        DataRequired("Say what was done, for whoever looks next."), Length(max=500)])
    confirm = BooleanField("I have checked PIMS: this payment is dealt with.",
                           validators=[DataRequired("Tick to confirm.")])


class ResendForm(StaffForm):
    to = EmailField("Send to", validators=[Optional(), Sendable(), Length(max=254)])


class ShopForm(StaffForm):
    shop_name = StringField("Shop name", validators=[DataRequired("Give the shop's name."),
                                                     Length(max=80), ONE_LINE])
    shop_phone = StringField("Support phone", validators=[Optional(), Length(max=40), ONE_LINE])
    shop_email = EmailField("Support email", validators=[Optional(), Sendable(),
                                                         Length(max=254)])
    alert_emails = TextAreaField(
        "Who is emailed when a payment needs attention",
        description="One email address per line. Empty: nobody (look at the dashboard daily).",
        validators=[Length(max=2000)])
    allowed_ips = TextAreaField(
        "Addresses allowed to open the dashboard",
        description="One address or range per line, like 203.0.113.7 or 192.168.1.0/24. "
                    "Empty: any address.", validators=[Length(max=4000)])
    embed_origins = TextAreaField(
        "Websites allowed to show the portal in a frame",
        description="One per line, like https://www.yourshop.com. Empty: none.",
        validators=[Length(max=4000)])
    confirm_lockout = BooleanField("Yes, save it even though it shuts out the address I am "
                                   "using now")


class SetPasswordForm(NewPasswordForm):
    """An owner gives someone a new password."""


class LogoForm(StaffForm):
    logo = FileField("Logo (PNG, JPEG or WebP, at most 512 KB)")


class LocationEmailForm(StaffForm):
    mail_sender_name = StringField("Sender name", validators=[Length(max=80), ONE_LINE])
    mail_sender = EmailField("Sender address", validators=[Optional(), Sendable(),
                                                           Length(max=254)])
    mail_reply_to = EmailField("Reply-to address", validators=[Optional(), Sendable(),
                                                               Length(max=254)])
    receipt_footer = TextAreaField("Receipt footer", validators=[Length(max=1000)])


class PayLinkForm(StaffForm):
    customer = StringField("Customer code (Account #)", validators=[
        DataRequired("Give the customer's account number."), Length(max=40),
        Regexp(r"^\s*[A-Za-z0-9][A-Za-z0-9._/-]*\s*$", message="Letters, digits and - . / _")])
    invoices = StringField("Only these invoices (optional)", description="Invoice numbers "
                           "separated by spaces. Empty: all the customer's open invoices.",
                           validators=[Length(max=2000)])
    days = IntegerField("Works for (days)", validators=[NumberRange(1, 366)])


class RevokeLinkForm(StaffForm):
    link_id = StringField("Link id", validators=[DataRequired("Give the link's id."),
                                                 Length(max=32)])
