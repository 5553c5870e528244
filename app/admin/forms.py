from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SubmitField


class UserEditForm(FlaskForm):
    role = SelectField("Role", coerce=int)
    active = BooleanField("Active (may sign in)")
    confirmed = BooleanField("Email address confirmed")
    submit = SubmitField("Save")
