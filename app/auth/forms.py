from flask_login import current_user
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from ..forms import AppForm
from ..models import User
from ..sheets.names import visible_text


class HardToGuess:
    """zxcvbn's estimate of how many guesses a password takes, on a scale of 0 to 4: below
    2 ("password", "qwertyuiop", the account's own address), its advice is the message.
    The form's email and name count as words an attacker would try first."""

    MINIMUM_SCORE = 2

    def __call__(self, form, field):
        from zxcvbn import zxcvbn  # here: only the forms that set a password need it

        known = [
            value
            for name in ("email", "name")
            if isinstance(value := getattr(getattr(form, name, None), "data", None), str)
        ]
        if current_user and current_user.is_authenticated:
            known += [current_user.email, current_user.name or ""]
        # zxcvbn measures at most 72 characters (a longer password is long enough).
        estimate = zxcvbn((field.data or "")[:72], user_inputs=[k[:72] for k in known if k])
        if estimate["score"] < self.MINIMUM_SCORE:
            feedback = estimate["feedback"]
            advice = [feedback.get("warning") or "This password is easy to guess."]
            advice += feedback.get("suggestions") or []
            advice.append("A few unrelated words make a strong password.")
            raise ValidationError(" ".join(dict.fromkeys(a for a in advice if a)))


PASSWORD_RULES = [
    DataRequired(),
    Length(min=8, max=128, message="Use between 8 and 128 characters."),
    HardToGuess(),
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


class DeleteAccountForm(AppForm):
    password = PasswordField("Your password", validators=[DataRequired()])
    submit = SubmitField("Delete my account and files")

    def validate_password(self, field):
        if not current_user.verify_password(field.data):
            raise ValidationError("That is not your password.")


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
