"""alxapi.config and alxapi.clock: precedence, provenance, validation, file search, masking.

Every test passes its own ``env`` mapping and ``search_paths`` so the developer's real environment,
home directory and /etc never leak in.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alxapi import clock, exitcodes
from alxapi.config import (
    INT,
    SETTINGS,
    SETTINGS_BY_NAME,
    Config,
    ConfigError,
    default_search_paths,
    get_setting,
    load_config,
    local_timezone_name,
)
from alxapi.redact import redact_url, redact_url_path


def load(flags=None, env=None, config_path=None, search_paths=()):
    """load_config isolated from the machine: empty environment, no file search unless asked."""
    return load_config(flags=flags, env=env or {}, config_path=config_path, search_paths=list(search_paths))


def write_toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def toml_file(tmp_path):
    return lambda text, name="alx.toml": write_toml(tmp_path / name, text)


# --- defaults and the registry --------------------------------------------------------------------


def test_defaults_when_nothing_is_given():
    cfg = load()
    assert cfg.file is None
    assert cfg.database_url == "sqlite:///alx.sqlite3"
    assert cfg.table_prefix == "mdl_"
    assert cfg.report_roles == ("student",)
    assert cfg.max_records == 1000
    assert cfg.rate_limit == 100
    assert cfg.allow_get_method is False
    assert cfg.enable_alerting is True
    assert cfg.alert_threshold == "medium"
    assert cfg.alert_emails == ()
    assert cfg.tui_refresh_seconds == 5.0
    assert cfg.log_level == "info"
    assert all(cfg.source(s.name) == "default" for s in SETTINGS)
    assert cfg.keymap == {}
    assert cfg.warnings == ()


def test_every_default_passes_its_own_validation():
    cfg = load()
    # Feeding each default back in as an override must be accepted unchanged.
    for setting in SETTINGS:
        assert getattr(cfg.replace(**{setting.name: getattr(cfg, setting.name)}), setting.name) == getattr(
            cfg, setting.name
        )


def test_registry_is_consistent():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert len({s.env_var for s in SETTINGS}) == len(SETTINGS)
    for setting in SETTINGS:
        assert setting.env_var.startswith("ALX_")
        assert setting.help
        # A setting must never shadow a Config attribute or method.
        assert not hasattr(Config, setting.name), setting.name
        if setting.type == INT:
            assert setting.min is not None and setting.max is not None


def test_default_timezone_is_a_real_zone():
    cfg = load()
    assert cfg.source("timezone") == "default"
    from zoneinfo import ZoneInfo

    ZoneInfo(cfg.timezone)


def test_get_setting_suggests_the_closest_name():
    assert get_setting("max_records").default == 1000
    with pytest.raises(KeyError, match="did you mean 'max_records'"):
        get_setting("max_record")


# --- precedence and provenance --------------------------------------------------------------------


def test_file_overrides_default(toml_file):
    path = toml_file("max_records = 500\n")
    cfg = load(config_path=path)
    assert cfg.max_records == 500
    assert cfg.source("max_records") == f"file:{path}"
    assert cfg.file == str(path)
    assert cfg.source("rate_limit") == "default"


def test_env_overrides_file(toml_file):
    path = toml_file("max_records = 500\n")
    cfg = load(env={"ALX_MAX_RECORDS": "600"}, config_path=path)
    assert cfg.max_records == 600
    assert cfg.source("max_records") == "env:ALX_MAX_RECORDS"


def test_flag_overrides_env_and_file(toml_file):
    path = toml_file("max_records = 500\n")
    cfg = load(flags={"max_records": "700"}, env={"ALX_MAX_RECORDS": "600"}, config_path=path)
    assert cfg.max_records == 700
    assert cfg.source("max_records") == "flag:--max-records"


def test_layers_mix_per_setting(toml_file):
    path = toml_file('max_records = 500\nrate_limit = 7\nlog_level = "debug"\n')
    cfg = load(flags={"rate_limit": 9}, env={"ALX_LOG_LEVEL": "warning"}, config_path=path)
    assert (cfg.max_records, cfg.source("max_records")) == (500, f"file:{path}")
    assert (cfg.rate_limit, cfg.source("rate_limit")) == (9, "flag:--rate-limit")
    assert (cfg.log_level, cfg.source("log_level")) == ("warning", "env:ALX_LOG_LEVEL")
    assert (cfg.batch_size, cfg.source("batch_size")) == (1000, "default")


def test_flags_that_were_not_given_are_none_and_ignored():
    cfg = load(flags={"max_records": None, "api_debug": None}, env={"ALX_MAX_RECORDS": "42"})
    assert cfg.max_records == 42
    assert cfg.source("max_records") == "env:ALX_MAX_RECORDS"
    assert cfg.source("api_debug") == "default"


def test_flags_may_be_typed_or_strings():
    cfg = load(flags={"api_port": 9000, "api_debug": True, "report_roles": ["student", "teacher"]})
    assert (cfg.api_port, cfg.api_debug, cfg.report_roles) == (9000, True, ("student", "teacher"))
    cfg = load(flags={"api_port": "9001", "api_debug": "yes", "report_roles": "student,teacher"})
    assert (cfg.api_port, cfg.api_debug, cfg.report_roles) == (9001, True, ("student", "teacher"))


def test_path_flags_may_be_path_objects(tmp_path):
    assert load(flags={"log_file": tmp_path / "alx.log"}).log_file == str(tmp_path / "alx.log")


def test_flag_sources_use_the_real_cli_spelling():
    cfg = load(flags={"database_url": "sqlite:///x.db", "table_prefix": "m_", "api_host": "0.0.0.0"})
    assert cfg.source("database_url") == "flag:--db"
    assert cfg.source("table_prefix") == "flag:--prefix"
    assert cfg.source("api_host") == "flag:--host"


def test_environment_names_every_setting():
    env = {
        "ALX_DATABASE_URL": "sqlite:///other.db",
        "ALX_TABLE_PREFIX": "m2_",
        "ALX_TIMEZONE": "Europe/Paris",
    }
    cfg = load(env=env)
    assert (cfg.database_url, cfg.table_prefix, cfg.timezone) == ("sqlite:///other.db", "m2_", "Europe/Paris")
    assert cfg.source("timezone") == "env:ALX_TIMEZONE"


def test_unknown_flag_name_is_a_programming_error():
    with pytest.raises(TypeError, match="did you mean 'max_records'"):
        load(flags={"max_record": 5})


# --- choosing the file ----------------------------------------------------------------------------


def test_search_takes_the_first_existing_file(tmp_path):
    first, second, third = (
        tmp_path / "a" / "alx.toml",
        tmp_path / "b" / "alx.toml",
        tmp_path / "c" / "alx.toml",
    )
    write_toml(second, "max_records = 2\n")
    write_toml(third, "max_records = 3\n")
    cfg = load(search_paths=[first, second, third])
    assert cfg.max_records == 2
    assert cfg.file == str(second)
    write_toml(first, "max_records = 1\n")
    assert load(search_paths=[first, second, third]).max_records == 1


def test_no_file_found_means_defaults(tmp_path):
    cfg = load(search_paths=[tmp_path / "missing.toml"])
    assert cfg.file is None
    assert cfg.max_records == 1000


def test_default_search_order_is_project_user_system(tmp_path):
    env = {"HOME": "/home/ada"}
    assert default_search_paths(env, cwd=tmp_path) == [
        tmp_path / "alx.toml",
        Path("/home/ada/.config/alx/alx.toml"),
        Path("/etc/alx/alx.toml"),
    ]
    env = {"HOME": "/home/ada", "XDG_CONFIG_HOME": "/srv/xdg"}
    assert default_search_paths(env, cwd=tmp_path)[1] == Path("/srv/xdg/alx/alx.toml")
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    env = {"HOME": "/home/ada", "XDG_CONFIG_HOME": "relative/dir"}
    assert default_search_paths(env, cwd=tmp_path)[1] == Path("/home/ada/.config/alx/alx.toml")


def test_default_search_uses_the_given_environment(tmp_path, monkeypatch):
    home = tmp_path / "home"
    user_file = write_toml(home / ".config" / "alx" / "alx.toml", "rate_limit = 11\n")
    monkeypatch.chdir(tmp_path)  # no ./alx.toml here
    # ~/.config comes before /etc/alx in the search, so a system file on this machine cannot interfere.
    cfg = load_config(env={"HOME": str(home)})
    assert cfg.file == str(user_file)
    assert cfg.rate_limit == 11
    write_toml(tmp_path / "alx.toml", "rate_limit = 12\n")
    assert load_config(env={"HOME": str(home)}).rate_limit == 12


def test_alx_config_env_names_the_file(toml_file, tmp_path):
    named = toml_file("max_records = 5\n", name="named.toml")
    searched = write_toml(tmp_path / "searched.toml", "max_records = 6\n")
    cfg = load(env={"ALX_CONFIG": str(named)}, search_paths=[searched])
    assert cfg.file == str(named)
    assert cfg.source("max_records") == f"file:{named}"


def test_config_flag_beats_alx_config(toml_file):
    from_flag = toml_file("max_records = 5\n", name="flag.toml")
    from_env = toml_file("max_records = 6\n", name="env.toml")
    cfg = load(env={"ALX_CONFIG": str(from_env)}, config_path=str(from_flag))
    assert cfg.max_records == 5


def test_empty_alx_config_counts_as_unset(tmp_path):
    assert load(env={"ALX_CONFIG": ""}).file is None


def test_named_file_must_exist(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml \(given by --config\) does not exist"):
        load(config_path=missing)
    with pytest.raises(ConfigError, match=r"nope\.toml \(given by ALX_CONFIG\) does not exist"):
        load(env={"ALX_CONFIG": str(missing)})


def test_unreadable_file_says_permission_denied_even_as_root(toml_file, monkeypatch):
    path = toml_file("max_records = 5\n")
    real_open = open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(ConfigError, match=f"cannot read config file {path}: permission denied"):
        load(config_path=path)


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "alx.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load(config_path=folder)


# --- the file's contents --------------------------------------------------------------------------


def test_invalid_toml_names_file_and_line(toml_file):
    path = toml_file("max_records = 5\nrate_limit = = 3\n")
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    message = str(caught.value)
    assert message.startswith(f"invalid TOML in {path}: ")
    assert "line 2" in message


def test_non_utf8_file(toml_file, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('smtp_from = "é"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(config_path=path)


def test_unknown_key_suggests_the_closest_setting(tmp_path):
    path = write_toml(tmp_path / "etc" / "alx.toml", "max_record = 5\n")
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    assert str(caught.value) == f"unknown setting 'max_record' in {path} (did you mean 'max_records'?)"


def test_unknown_key_without_a_close_match(toml_file):
    path = toml_file("colour_scheme = 'dark'\n")
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    assert str(caught.value) == f"unknown setting 'colour_scheme' in {path}"


def test_unknown_table(toml_file):
    path = toml_file("[keymaps]\nquit = 'q'\n")
    with pytest.raises(ConfigError, match=r"unknown table 'keymaps' in .* \(did you mean 'keymap'\?\)"):
        load(config_path=path)


def test_every_problem_is_reported_at_once(toml_file):
    path = toml_file("max_record = 5\nrate_limit = -1\n")
    with pytest.raises(ConfigError) as caught:
        load(env={"ALX_BATCH_SIZE": "lots"}, config_path=path)
    problems = caught.value.problems
    assert len(problems) == 3
    assert str(caught.value) == "\n".join(problems)
    assert any("max_record" in p for p in problems)
    assert any(p.startswith("rate_limit must be between 0 and 1000000, got -1 (from file ") for p in problems)
    assert any(p == "batch_size in env ALX_BATCH_SIZE: expected an integer, got 'lots'" for p in problems)


def test_toml_values_must_have_the_right_type(toml_file):
    path = toml_file('max_records = "500"\n')
    with pytest.raises(ConfigError) as caught:
        load(config_path=path)
    assert str(caught.value) == f"max_records in file {path}: expected an integer, got '500'"
    # bool is an int subclass in Python; TOML true is still not a number.
    with pytest.raises(ConfigError, match="expected an integer, got true"):
        load(config_path=toml_file("max_records = true\n"))
    with pytest.raises(ConfigError, match="allow_get_method in file .*: expected a boolean"):
        load(config_path=toml_file("allow_get_method = 1\n"))


def test_toml_float_accepts_integers(toml_file):
    cfg = load(config_path=toml_file("tui_refresh_seconds = 2\n"))
    assert cfg.tui_refresh_seconds == 2.0
    assert isinstance(cfg.tui_refresh_seconds, float)


def test_keymap_table(toml_file):
    path = toml_file('max_records = 5\n\n[keymap]\nsync_now = "ctrl+y"\nquit = "q"\n')
    cfg = load(config_path=path)
    assert cfg.keymap == {"sync_now": "ctrl+y", "quit": "q"}
    cfg.keymap["quit"] = "x"  # a copy: the config itself cannot be changed through it
    assert cfg.keymap["quit"] == "q"


def test_keymap_values_must_be_strings(toml_file):
    with pytest.raises(ConfigError, match=r"keymap in .*: 'quit' must map to a key string"):
        load(config_path=toml_file("[keymap]\nquit = 3\n"))
    with pytest.raises(ConfigError, match="keymap in .* must be a table"):
        load(config_path=toml_file('keymap = "q"\n'))


# --- error messages for each layer ----------------------------------------------------------------


def test_wrong_type_in_env():
    with pytest.raises(ConfigError) as caught:
        load(env={"ALX_MAX_RECORDS": "abc"})
    assert str(caught.value) == "max_records in env ALX_MAX_RECORDS: expected an integer, got 'abc'"
    assert caught.value.exit_code == exitcodes.CONFIG == 78


def test_out_of_range_flag():
    with pytest.raises(ConfigError) as caught:
        load(flags={"rate_limit": "-5"})
    assert str(caught.value) == "rate_limit must be between 0 and 1000000, got -5 (from flag --rate-limit)"


def test_every_layer_is_validated_even_when_overridden():
    # A broken environment variable is reported although a flag overrides it.
    with pytest.raises(ConfigError, match="ALX_MAX_RECORDS"):
        load(flags={"max_records": 5}, env={"ALX_MAX_RECORDS": "abc"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALX_TABLE_PREFIX": "MDL-"}, "table_prefix must be lower-case letters, digits or '_'"),
        ({"ALX_TABLE_PREFIX": "a" * 21}, "table_prefix must be lower-case letters"),
        ({"ALX_TIMEZONE": "Mars/Olympus"}, "timezone must be an IANA time zone name"),
        ({"ALX_TIMEZONE": "/etc/passwd"}, "timezone must be an IANA time zone name"),
        ({"ALX_ALERT_THRESHOLD": "urgent"}, "alert_threshold must be one of low, medium, high, critical"),
        ({"ALX_LOG_LEVEL": "verbose"}, "log_level must be one of debug, info, warning, error"),
        ({"ALX_TUI_REFRESH_SECONDS": "0.1"}, r"tui_refresh_seconds must be between 0\.5 and 3600, got 0\.1"),
        ({"ALX_TUI_REFRESH_SECONDS": "nan"}, "tui_refresh_seconds in env .*: expected a number"),
        ({"ALX_API_PORT": "8080.5"}, "api_port in env ALX_API_PORT: expected an integer"),
        ({"ALX_ALERT_EMAILS": "ops@example.com, nobody"}, "alert_emails must be e-mail addresses"),
        ({"ALX_DATABASE_URL": "oracle://x/y"}, "database_url must be a database URL"),
        ({"ALX_ALERT_WEBHOOK_URL": "ftp://x/y"}, "alert_webhook_url must be an http"),
    ],
)
def test_values_are_checked(env, message):
    with pytest.raises(ConfigError, match=message):
        load(env=env)


def test_empty_table_prefix_is_allowed():
    # Moodle allows an empty $CFG->prefix (except on Oracle, which Moodle 4.5 no longer supports).
    assert load(env={"ALX_TABLE_PREFIX": ""}).table_prefix == ""


def test_enum_is_case_insensitive():
    assert load(env={"ALX_ALERT_THRESHOLD": "HIGH"}).alert_threshold == "high"


# --- bools and lists ------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "Yes", "on", " on "])
def test_true_words(word):
    assert load(env={"ALX_API_DEBUG": word}).api_debug is True


@pytest.mark.parametrize("word", ["0", "false", "False", "no", "NO", "off"])
def test_false_words(word):
    assert load(env={"ALX_ENABLE_ALERTING": word}).enable_alerting is False


@pytest.mark.parametrize("word", ["", "maybe", "2", "y", "enabled"])
def test_other_words_are_not_booleans(word):
    with pytest.raises(ConfigError, match="api_debug in flag --api-debug: expected a boolean"):
        load(flags={"api_debug": word})


def test_lists_from_env_flags_and_file(toml_file):
    assert load(env={"ALX_REPORT_ROLES": "student, teacher,,"}).report_roles == ("student", "teacher")
    assert load(env={"ALX_ALERT_EMAILS": ""}).alert_emails == ()
    assert load(flags={"report_roles": "editingteacher"}).report_roles == ("editingteacher",)
    array = toml_file('alert_emails = ["a@example.com", "b@example.com"]\n')
    assert load(config_path=array).alert_emails == ("a@example.com", "b@example.com")
    comma = toml_file('alert_emails = "a@example.com, b@example.com"\n', name="comma.toml")
    assert load(config_path=comma).alert_emails == ("a@example.com", "b@example.com")


def test_list_items_must_be_strings(toml_file):
    with pytest.raises(ConfigError, match="report_roles in file .*: expected a list of strings"):
        load(config_path=toml_file("report_roles = [1, 2]\n"))


# --- secrets --------------------------------------------------------------------------------------


def test_database_url_password_is_masked_everywhere():
    cfg = load(env={"ALX_DATABASE_URL": "mysql://alx:s3cret@db.example.com:3306/moodle"})
    assert cfg.database_url == "mysql://alx:s3cret@db.example.com:3306/moodle"  # the real value is kept
    shown = dict((name, value) for name, value, _ in cfg.describe())
    assert shown["database_url"] == "mysql://alx:***@db.example.com:3306/moodle"
    assert "s3cret" not in repr(cfg)


def test_database_url_password_is_masked_in_errors():
    with pytest.raises(ConfigError) as caught:
        load(env={"ALX_DATABASE_URL": "oracle://alx:s3cret@db/moodle"})
    assert "s3cret" not in str(caught.value)
    assert "oracle://alx:***@db/moodle" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mysql://u:pw@h/db", "mysql://u:***@h/db"),
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("mysql://u@h/db", "mysql://u@h/db"),
        ("sqlite:///var/lib/alx/alx.sqlite3", "sqlite:///var/lib/alx/alx.sqlite3"),
        (
            "mysql+pool://h/db?user=u&password=pw&max_connections=8",
            "mysql+pool://h/db?user=u&password=***&max_connections=8",
        ),
    ],
)
def test_redact_url(url, masked):
    assert redact_url(url) == masked


def test_webhook_is_masked():
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    cfg = load(env={"ALX_ALERT_WEBHOOK_URL": url})
    shown = {name: (value, source) for name, value, source in cfg.describe()}
    assert shown["alert_webhook_url"] == ("https://hooks.slack.com/***", "env:ALX_ALERT_WEBHOOK_URL")
    assert "XXXXSECRET" not in repr(cfg)
    assert redact_url_path("https://user:pw@example.com/hook") == "https://example.com/***"


def test_describe_lists_every_setting_in_order():
    cfg = load(flags={"api_debug": True})
    rows = cfg.describe()
    assert [name for name, _, _ in rows] == [s.name for s in SETTINGS]
    assert ("api_debug", "true", "flag:--api-debug") in rows
    assert ("report_roles", "student", "default") in rows


# --- unknown ALX_* variables ----------------------------------------------------------------------


def test_unknown_alx_variables_are_ignored_with_a_warning():
    env = {
        "ALX_MAX_RECORD": "5",
        "ALX_CONFIG": "",
        "ALX_NOW": "1700000000",
        "ALX_TEST_SEED": "3",
        "PATH": "/bin",
    }
    cfg = load(env=env)
    assert cfg.max_records == 1000
    assert cfg.warnings == (
        "ignoring environment variable ALX_MAX_RECORD: not a setting (did you mean 'ALX_MAX_RECORDS'?)",
    )


# --- the Config object ----------------------------------------------------------------------------


def test_config_is_read_only():
    cfg = load()
    with pytest.raises(AttributeError, match="read-only"):
        cfg.max_records = 5
    with pytest.raises(AttributeError, match="did you mean 'max_records'"):
        _ = cfg.max_record


def test_replace_validates_and_marks_the_source():
    cfg = load()
    changed = cfg.replace(max_records=50, api_debug="on", keymap={"quit": "ctrl+q"})
    assert (changed.max_records, changed.api_debug, changed.keymap) == (50, True, {"quit": "ctrl+q"})
    assert changed.source("max_records") == "override"
    assert cfg.max_records == 1000  # the original is untouched
    with pytest.raises(
        ConfigError, match="max_records must be between 1 and 10000, got 0 \\(from override\\)"
    ):
        cfg.replace(max_records=0)
    with pytest.raises(TypeError, match="did you mean 'max_records'"):
        cfg.replace(max_record=5)


def test_source_of_an_unknown_setting():
    with pytest.raises(KeyError, match="did you mean 'rate_limit'"):
        load().source("rate_limt")


def test_configs_compare_by_value():
    assert load() == load()
    assert load() != load().replace(max_records=5)


# --- the local time zone --------------------------------------------------------------------------


def test_local_timezone_prefers_tz_then_etc_timezone_then_localtime_link(tmp_path):
    etc_timezone = tmp_path / "timezone"
    etc_localtime = tmp_path / "localtime"
    etc_timezone.write_text("America/New_York\n")
    etc_localtime.symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    assert local_timezone_name(":Europe/Paris", etc_timezone, etc_localtime) == "Europe/Paris"
    assert local_timezone_name("", etc_timezone, etc_localtime) == "America/New_York"
    etc_timezone.unlink()
    assert local_timezone_name("", etc_timezone, etc_localtime) == "Asia/Tokyo"
    etc_localtime.unlink()
    etc_localtime.symlink_to("../usr/share/zoneinfo/posix/Europe/Berlin")
    assert local_timezone_name("Not/AZone", etc_timezone, etc_localtime) == "Europe/Berlin"


def test_local_timezone_always_returns_a_valid_zone(tmp_path):
    from zoneinfo import ZoneInfo

    ZoneInfo(local_timezone_name("", tmp_path / "none", tmp_path / "none"))


# --- property: integer ranges ---------------------------------------------------------------------

INT_SETTINGS = [s for s in SETTINGS if s.type == INT]


@given(setting=st.sampled_from(INT_SETTINGS), value=st.integers(min_value=-(10**7), max_value=10**7))
def test_int_settings_accept_exactly_their_range(setting, value):
    in_range = setting.min <= value <= setting.max
    try:
        cfg = load_config(flags={setting.name: str(value)}, env={}, search_paths=[])
    except ConfigError as err:
        assert not in_range
        assert str(err) == (
            f"{setting.name} must be between {setting.min} and {setting.max}, got {value} "
            f"(from flag {setting.flag_name})"
        )
    else:
        assert in_range
        assert getattr(cfg, setting.name) == value


# --- clock ----------------------------------------------------------------------------------------


def test_clock_uses_alx_now():
    assert clock.now({"ALX_NOW": "1700000000"}) == 1700000000


def test_clock_without_alx_now_is_the_real_time():
    before = int(time.time())
    assert before <= clock.now({}) <= int(time.time())
    assert before <= clock.now({"ALX_NOW": ""}) <= int(time.time())


def test_clock_rejects_a_non_integer():
    with pytest.raises(ValueError, match="ALX_NOW must be an integer number of epoch seconds, got '1.5'"):
        clock.now({"ALX_NOW": "1.5"})


def test_settings_by_name_matches_registry():
    assert list(SETTINGS_BY_NAME) == [s.name for s in SETTINGS]


def test_a_config_file_or_password_file_others_can_read_is_warned_about(tmp_path):
    from .support.cli_helpers import Alx

    config = tmp_path / "alx.toml"
    password = tmp_path / "smtp-password"
    password.write_text("s3cret")
    config.write_text(f'smtp_password_file = "{password}"\n')
    config.chmod(0o644)
    password.chmod(0o640)
    alx = Alx(tmp_path / "work")
    result = alx("--config", str(config), "config", db=False)
    assert result.code == 0
    listed = result.stderr
    assert f"the config file {config} is readable by others" in listed and "chmod 600" in listed
    assert f"smtp_password_file {password} is readable by its group" in listed
    warned = alx("--config", str(config), "check", db=False)  # every command says it on stderr
    assert "is readable by others" in warned.stderr
    config.chmod(0o600)
    password.chmod(0o600)
    assert "readable" not in alx("--config", str(config), "config", db=False).stderr


def test_engagement_weights_that_do_not_sum_to_one_are_a_configuration_error(toml_file):
    path = toml_file("engagement_weight_time = 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(config_path=path, env={}, search_paths=[])
    assert "engagement weights must sum to 1" in str(err.value)
    assert err.value.exit_code == exitcodes.CONFIG
    # Moving weight from one to another keeps the sum: fine, from any layer.
    cfg = load_config(
        flags={"engagement_weight_time": 0.5},
        env={"ALX_ENGAGEMENT_WEIGHT_DAYS": "0"},
        config_path=path,
        search_paths=[],
    )
    assert (cfg.engagement_weight_time, cfg.engagement_weight_days) == (0.5, 0.0)
    with pytest.raises(ConfigError, match="must sum to 1"):
        cfg.replace(engagement_weight_interactions=0.3)
