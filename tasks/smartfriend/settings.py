"""SmartFriend's own settings, read like the platform's: the environment over ``.env``.

The platform's :class:`~glipbot.settings.Settings` knows nothing of the
example bot; what only SmartFriend reads is declared here, with the same
:func:`~glipbot.settings.setting` fields, so the documentation's tables list
these variables next to the platform's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from glipbot.settings import read_env, setting


@dataclass(frozen=True)
class SmartFriendSettings:
    """What SmartFriend's jobs read from the environment."""

    birthdays_file: str = setting(
        "BIRTHDAYS_FILE",
        "",
        "SmartFriend's birthdays: JSON or CSV of person id or e-mail to `MM-DD`, "
        "for the daily greetings",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> SmartFriendSettings:
        """Build from ``environ`` (default ``os.environ``) over an optional ``.env``.

        Variables set in the environment win over the file, as for the
        platform's settings.
        """
        return read_env(cls, environ, env_file)
