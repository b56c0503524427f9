"""The roles an admin user can hold (what each allows: controller/services/users.py).

Here, apart from the users service, so that the CLI's argument parser can offer them as
choices without loading argon2 and the web stack first.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MANAGER = "manager"
    SECURITY = "security"
    ADMIN = "admin"
