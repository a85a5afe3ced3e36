"""A check against the most common passwords (registration and password changes)."""
from __future__ import annotations

# The most common leaked passwords that pass the length rule (>= 10 characters), from the
# public top-password lists (SecLists, NCSC); short ones are already refused by length.
COMMON_PASSWORDS = frozenset("""
1234567890 0123456789 0987654321 9876543210 12345678910 123456789a 123456789q 1234567890a
1111111111 0000000000 1212121212 1234512345 1122334455 1020304050 5555555555 7777777777
qwertyuiop qwertyuiop123 1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx3edc 1qazxsw23edc qazwsxedcrfv
zaq12wsxcde3 asdfghjkl1 asdfghjkl123 zxcvbnm123 qwerty1234 qwerty12345 qwerty123456
password12 password123 password1234 password12345 password123! password1! passw0rd123
p@ssword123 p@ssw0rd123 mypassword mypassword1 mypassword123 passwordpassword iloveyou12
iloveyou123 iloveyou1234 princess123 sunshine123 football123 baseball123 basketball
superman123 starwars123 letmein1234 welcome123 welcome1234 welcome2024 welcome2025
administrator admin12345 admin123456 adminadmin changeme123 trustno1234 computer123
abcdefghij abc1234567 abcd123456 abcdef1234 1234abcd1234 aaaaaaaaaa monkey1234
michael123 charlie123 jennifer123 liverpool1 chelsea123 pokemon123 minecraft1 minecraft123
123qweasdzxc 1234qwerasdf q1w2e3r4t5 q1w2e3r4t5y6 a1b2c3d4e5 1a2b3c4d5e qwertyuiop1
""".split())


def is_common_password(password: str) -> bool:
    """True for a top-list password (case-insensitive) or one made of a single repeated character."""
    text = password.strip().lower()
    return text in COMMON_PASSWORDS or len(set(text)) <= 1
