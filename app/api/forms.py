from wtforms import SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ..forms import AppForm
from ..sheets.names import visible_text

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
