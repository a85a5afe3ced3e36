"""Shared fixtures, after Flask's tutorial: app, client, runner and an auth helper.

The schema is created once per session by the Alembic migrations (the only way the schema
is ever made) into a template SQLite file; each test gets a copy of it, so every test has a
fresh database at the cost of a file copy, not a migration run.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import freezegun
import pytest

from puzzle_platform import create_app
from tests.helpers import csrf_token

REPO = Path(__file__).resolve().parent.parent

# freezegun reads every attribute of every loaded module when it starts; on the lazily
# importing ML packages (transformers, ...) that imports half of them and once crashed the
# interpreter mid-suite. No test needs their clocks frozen.
FREEZE_IGNORE = ["transformers", "huggingface_hub", "datasets", "torch", "transformer_lens",
                 "pandas", "accelerate", "tokenizers", "safetensors", "sklearn", "scipy"]
freezegun.configure(extend_ignore_list=FREEZE_IGNORE)


@pytest.fixture(scope="session", autouse=True)
def models_dir(tmp_path_factory) -> Path:
    """The tests' MODELS_DIR: pytest's base temp folder, under which every test builds its
    local models (a puzzle may load local models only from MODELS_DIR). Set in the environment
    so that the app's config, the `stats` command and worker subprocesses all read it."""
    base = tmp_path_factory.getbasetemp().resolve()
    before = os.environ.get("MODELS_DIR")
    os.environ["MODELS_DIR"] = str(base)
    yield base
    if before is None:
        os.environ.pop("MODELS_DIR", None)
    else:
        os.environ["MODELS_DIR"] = before


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    from flask_migrate import upgrade

    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.sqlite3"
    app = create_app({"SECRET_KEY": "t", "INSTANCE_PATH": str(folder),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        app.extensions["sqlalchemy"].engine.dispose()
    return path


@pytest.fixture
def puzzles_dir(tmp_path) -> Path:
    folder = tmp_path / "puzzles"
    folder.mkdir()
    return folder


@pytest.fixture
def app(tmp_path, template_db, puzzles_dir):
    db_path = tmp_path / "test.sqlite3"
    shutil.copy(template_db, db_path)
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "PUZZLES_DIR": str(puzzles_dir),
        "WRONG_ANSWER_WAITS": (60, 300, 600),
    })
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Register / log in / log out through the real forms (CSRF included)."""

    def __init__(self, client, app):
        self._client, self._app = client, app

    def register(self, username="scholar1", password="correct horse battery", display_name=None,
                 email=None):
        return self._client.post("/register", data={
            "csrf_token": csrf_token(self._client, "/register"), "username": username,
            "display_name": display_name or username.title(),
            "email": email or f"{username}@example.org", "password": password, "confirm": password,
        })

    def login(self, username="scholar1", password="correct horse battery"):
        return self._client.post("/login", data={
            "csrf_token": csrf_token(self._client), "username": username, "password": password})

    def logout(self):
        return self._client.post("/logout", data={"csrf_token": csrf_token(self._client, "/")})

    def create_user(self, username, role="scholar", password="correct horse battery"):
        from puzzle_platform.extensions import db
        from puzzle_platform.models import User

        with self._app.app_context():
            user = User(username=username, email=f"{username}@example.org", role=role,
                        display_name=username.title())
            user.set_password(password)
            db.session.add(user)
            db.session.commit()
            return user.id


@pytest.fixture
def auth(client, app):
    return AuthActions(client, app)


@pytest.fixture
def sync(runner):
    def _sync():
        result = runner.invoke(args=["puzzles", "sync"])
        assert result.exit_code == 0, result.output
        return result.output
    return _sync


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Random tiny GPT-Neo, GPT-2 (learned positions, tied embeddings) and Llama (rotary: no
    W_pos) saved with save_pretrained only (no tokenizer files, as a user's local directory
    might be), booted by the worker through TransformerBridge."""
    import torch
    from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoConfig, GPTNeoForCausalLM,
                              LlamaConfig, LlamaForCausalLM)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    special = {"bos_token_id": 0, "eos_token_id": 1}
    models = {
        "gpt_neo": GPTNeoForCausalLM(GPTNeoConfig(
            vocab_size=300, hidden_size=32, num_layers=2, num_heads=4, window_size=16,
            attention_types=[[["global", "local"], 1]], max_position_embeddings=64, **special)),
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4,
                                           n_positions=64, **special)),
        "llama": LlamaForCausalLM(LlamaConfig(
            vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, **special)),
    }
    base = tmp_path_factory.mktemp("tiny_models")
    for name, model in models.items():
        model.save_pretrained(base / name)
    return {name: base / name for name in models}


WORDS = ("the cat sat on mat a dog king man woman queen paris france is capital of rome italy "
         "berlin germany big small red blue when mary and john went to store gave drink").split()


@pytest.fixture(scope="session")
def tiny_text_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Random tiny GPT-2 and GPT-Neo with a word-level tokenizer saved beside the weights
    (BOS "<bos>" = 0, pad "<pad>" = 1, unknown "<unk>" = 2, then WORDS), for recipes that read
    text. Under MODELS_DIR (the session's temp folder): refer to them as models:<folder>."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoConfig, GPTNeoForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(1)
    vocab = {"<bos>": 0, "<pad>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", pad_token="<pad>",
                                   unk_token="<unk>")
    special = {"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 1}
    built = {
        "text_gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4,
                                                n_positions=64, **special)),
        "text_neo": GPTNeoForCausalLM(GPTNeoConfig(
            vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, window_size=16,
            attention_types=[[["global", "local"], 1]], max_position_embeddings=64, **special)),
    }
    base = tmp_path_factory.mktemp("tiny_text_models")
    for name, model in built.items():
        model.save_pretrained(base / name)
        fast.save_pretrained(base / name)
    return {name: base / name for name in built}
