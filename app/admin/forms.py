from flask import current_app
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from ..audit import ACTIONS
from ..forms import AppForm, FilterForm
from ..models import Conversion
from ..sheets import formats
from ..users import SORTS


def trimmed(value):
    return value.strip() if isinstance(value, str) else value


class UserSearchForm(FilterForm):
    q = SearchField(default="", filters=[trimmed], validators=[Length(max=200)])
    sort = SelectField(default="newest", choices=list(SORTS))


class AuditFilterForm(FilterForm):
    action = SelectField(default="", choices=["", *ACTIONS])
    q = SearchField(default="", filters=[trimmed], validators=[Length(max=200)])


class ConversionFilterForm(FilterForm):
    STATUSES = (
        Conversion.UPLOADED,
        Conversion.QUEUED,
        Conversion.RUNNING,
        Conversion.DONE,
        Conversion.FAILED,
        Conversion.CANCELLED,
    )
    FORMATS = formats.NAMES

    status = SelectField(default="", choices=["", *STATUSES])
    format = SelectField(default="", choices=["", *FORMATS])
    user = StringField(default="", filters=[trimmed], validators=[Length(max=255)])
    since = DateField(default=None, validators=[Optional()])


class UserEditForm(AppForm):
    role = SelectField("Role", coerce=int)
    active = BooleanField("Active (may sign in)")
    confirmed = BooleanField("Email address confirmed")
    submit = SubmitField("Save")

    @classmethod
    def for_account(cls, account, roles):
        form = cls(obj=account, role=account.role_id)
        form.role.choices = [SelectChoice(role.id, role.name) for role in roles]
        return form


class SettingsForm(AppForm):
    allow_anonymous = BooleanField("Visitors without an account may convert")
    upload_limit_anonymous_mb = IntegerField(
        "Upload limit without an account (MB)",
        validators=[InputRequired(), NumberRange(1, 100_000)],
    )
    upload_limit_user_mb = IntegerField(
        "Upload limit with an account (MB)", validators=[InputRequired(), NumberRange(1, 100_000)]
    )
    storage_quota_anonymous_mb = IntegerField(
        "Storage each visitor may keep (MB)",
        validators=[InputRequired(), NumberRange(1, 10_000_000)],
    )
    storage_quota_user_mb = IntegerField(
        "Storage each account may keep (MB)",
        validators=[InputRequired(), NumberRange(1, 10_000_000)],
    )
    retention_hours = IntegerField(
        "Keep files for (hours)", validators=[InputRequired(), NumberRange(1, 24 * 90)]
    )
    site_notice = TextAreaField("Notice on the home page", validators=[Length(max=500)])
    submit = SubmitField("Save settings")

    def validate_upload_limit_anonymous_mb(self, field):
        if (
            self.upload_limit_user_mb.data
            and field.data
            and field.data > self.upload_limit_user_mb.data
        ):
            raise ValidationError("Make it no larger than the limit with an account.")

    def validate_storage_quota_anonymous_mb(self, field):
        if (
            field.data
            and self.upload_limit_anonymous_mb.data
            and (field.data < self.upload_limit_anonymous_mb.data)
        ):
            raise ValidationError("Make it at least the upload limit without an account.")

    def validate_storage_quota_user_mb(self, field):
        if (
            field.data
            and self.upload_limit_user_mb.data
            and (field.data < self.upload_limit_user_mb.data)
        ):
            raise ValidationError("Make it at least the upload limit with an account.")

    def validate_upload_limit_user_mb(self, field):
        request_limit = current_app.config["MAX_CONTENT_LENGTH"] // 2**20
        if field.data and field.data > request_limit:
            raise ValidationError(
                f"The server accepts requests up to {request_limit} MB (MAX_UPLOAD_MB); raise that first."
            )

    def values(self):
        return {
            "allow_anonymous": self.allow_anonymous.data,
            "upload_limit_anonymous_mb": self.upload_limit_anonymous_mb.data,
            "upload_limit_user_mb": self.upload_limit_user_mb.data,
            "storage_quota_anonymous_mb": self.storage_quota_anonymous_mb.data,
            "storage_quota_user_mb": self.storage_quota_user_mb.data,
            "retention_hours": self.retention_hours.data,
            "site_notice": (self.site_notice.data or "").strip(),
        }
