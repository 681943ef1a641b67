import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from tenancy.validators import CREDIT_CODE_ALPHABET, credit_code_check_char, validate_credit_code
from tests.tenancy.factories import credit_code

# A published code (Tencent Technology (Shenzhen) Co., Ltd.).
KNOWN_GOOD = "9144030071526726XG"


def test_known_credit_code_is_valid():
    validate_credit_code(KNOWN_GOOD)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("9144030071526726X", "length"),
        ("9144030071526726XGG", "length"),
        ("9144030071526726XO", "alphabet"),
        ("9144030071526726xg", "alphabet"),
        ("9144030071526726XH", "checksum"),
    ],
)
def test_malformed_credit_codes_are_rejected(value, code):
    with pytest.raises(ValidationError) as info:
        validate_credit_code(value)
    assert info.value.code == code


@given(st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=17, max_size=17))
def test_every_single_character_change_breaks_the_check(first17):
    code = first17 + credit_code_check_char(first17)
    validate_credit_code(code)
    position = hash(first17) % 17
    replacement = next(c for c in CREDIT_CODE_ALPHABET if c != code[position])
    with pytest.raises(ValidationError):
        validate_credit_code(code[:position] + replacement + code[position + 1 :])


def test_factory_codes_are_valid_and_distinct():
    codes = {credit_code(n) for n in range(200)}
    assert len(codes) == 200
    for code in codes:
        validate_credit_code(code)
