"""Flask-WTF forms (CSRF included) for accounts."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, Length, Regexp, ValidationError, DataRequired

from .passwords import is_common_password

MIN_PASSWORD = 10


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
        DataRequired(), Length(min=MIN_PASSWORD, max=1024,
                               message=f"At least {MIN_PASSWORD} characters.")])
    confirm = PasswordField("Repeat password", validators=[
        DataRequired(), EqualTo("password", message="The passwords differ.")])

    def validate_password(self, field) -> None:
        if self.username.data and field.data and self.username.data.lower() in field.data.lower():
            raise ValidationError("The password must not contain the username.")
        if field.data and is_common_password(field.data):
            raise ValidationError("That password is one of the most common ones; choose another.")
