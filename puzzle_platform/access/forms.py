"""Flask-WTF forms (CSRF included) for accounts."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, Length, Regexp, ValidationError, DataRequired

from .passwords import MAX_PASSWORD, password_problem


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[
        DataRequired(), Length(min=3, max=32),
        Regexp(r"^[a-zA-Z0-9_.-]+$", message="Letters, digits, '.', '_' and '-' only."),
    ])
    display_name = StringField("Display name (shown on leaderboards)",
                               validators=[DataRequired(), Length(min=1, max=64)])
    email = StringField("Email", validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an email address.")])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(max=MAX_PASSWORD)])
    confirm = PasswordField("Repeat password", validators=[
        DataRequired(), EqualTo("password", message="The passwords differ.")])

    def validate_password(self, field) -> None:
        validate_new_password(field.data, [self.username.data or "", self.email.data or ""])


def validate_new_password(password: str | None, user_inputs: list[str]) -> None:
    """The one password rule for forms (see passwords.password_problem)."""
    problem = password_problem(password or "", user_inputs)
    if problem:
        raise ValidationError(problem)


class PasswordForm(FlaskForm):
    """Change your password (profile): the current one proves it is you, not a stolen cookie."""

    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    confirm = PasswordField("Repeat new password", validators=[
        DataRequired(), EqualTo("new_password", message="The passwords differ.")])

    def __init__(self, user_inputs: list[str], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._user_inputs = user_inputs

    def validate_new_password(self, field) -> None:
        validate_new_password(field.data, self._user_inputs)
        if field.data == self.current_password.data:
            raise ValidationError("The new password is the same as the current one.")
