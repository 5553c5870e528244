from flask_login import current_user
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from ..forms import AppForm
from ..models import User
from ..sheets.names import visible_text

PASSWORD_RULES = [
    DataRequired(),
    Length(min=8, max=128, message="Use between 8 and 128 characters."),
]


def email_field(label="Email"):
    return EmailField(
        label,
        validators=[
            DataRequired(),
            Length(max=254),
            Email(message="Enter a valid email address, like name@example.com."),
        ],
        filters=[User.normalise_email],
    )


def new_password_fields(label="Password"):
    password = PasswordField(label, validators=PASSWORD_RULES)
    confirm = PasswordField(
        f"Repeat {label.lower()}",
        validators=[DataRequired(), EqualTo("password", message="The passwords do not match.")],
    )
    return password, confirm


class LoginForm(AppForm):
    # No syntax check here: any address that has an account may log in.
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember_me = BooleanField("Keep me logged in")
    submit = SubmitField("Log in")


class RegistrationForm(AppForm):
    name = StringField(
        "Your name", validators=[DataRequired(), Length(max=100)], filters=[visible_text]
    )
    email = email_field()
    password, password2 = new_password_fields()
    submit = SubmitField("Create account")


class ChangePasswordForm(AppForm):
    old_password = PasswordField("Current password", validators=[DataRequired()])
    password, password2 = new_password_fields("New password")
    submit = SubmitField("Change password")

    def validate_old_password(self, field):
        if not current_user.verify_password(field.data):
            raise ValidationError("That is not your current password.")


class PasswordResetRequestForm(AppForm):
    email = email_field()
    submit = SubmitField("Email me a reset link")


class PasswordResetForm(AppForm):
    password, password2 = new_password_fields("New password")
    submit = SubmitField("Set new password")


class ChangeEmailForm(AppForm):
    email = email_field("New email")
    password = PasswordField("Current password", validators=[DataRequired()])
    submit = SubmitField("Send confirmation link")

    def validate_email(self, field):
        if field.data == current_user.email:
            raise ValidationError("That is already your email address.")

    def validate_password(self, field):
        if not current_user.verify_password(field.data):
            raise ValidationError("That is not your current password.")
