from wtforms import EmailField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from ..forms import AppForm
from ..sheets.names import visible_text


class ContactForm(AppForm):
    name = StringField(
        "Your name", validators=[DataRequired(), Length(max=100)], filters=[visible_text]
    )
    email = EmailField(
        "Your email",
        validators=[
            DataRequired(),
            Length(max=254),
            Email(message="Enter a valid email address, like name@example.com."),
        ],
    )
    subject = StringField(
        "Subject", validators=[DataRequired(), Length(max=200)], filters=[visible_text]
    )
    message = TextAreaField(
        "Message",
        validators=[
            DataRequired(),
            Length(min=10, max=5000, message="Write between 10 and 5000 characters."),
        ],
    )
    submit = SubmitField("Send message")


class ProfileForm(AppForm):
    name = StringField(
        "Your name", validators=[DataRequired(), Length(max=100)], filters=[visible_text]
    )
    submit = SubmitField("Save")


EXPIRY_CHOICES = [
    SelectChoice(0, "Never"),
    SelectChoice(7, "In 7 days"),
    SelectChoice(30, "In 30 days"),
    SelectChoice(90, "In 90 days"),
    SelectChoice(365, "In a year"),
]


class TokenForm(AppForm):
    name = StringField(
        "Token name",
        validators=[
            DataRequired("Name the token, e.g. after the script that uses it."),
            Length(max=100),
        ],
        filters=[visible_text],
    )
    expires_in_days = SelectField("Expires", choices=EXPIRY_CHOICES, default=30, coerce=int)
    submit = SubmitField("Create token")
