import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.encryption import decrypt, encrypt, mask


@given(st.text(min_size=1, max_size=200))
def test_encrypt_round_trips_and_never_contains_the_clear_text(value):
    token = encrypt(value)
    assert decrypt(token) == value
    if len(value) >= 4:
        assert value not in token


def test_mask_keeps_only_the_last_four_characters():
    assert mask("6222020200112345678") == "***************5678"
    assert mask("") == ""


@pytest.mark.django_db
def test_an_empty_encrypted_field_reads_back_empty():
    from payments.models import ProviderAccount

    account = ProviderAccount.objects.create(
        name="empty-key", appid="wx1", mch_id="1900000109", api_key=""
    )
    assert ProviderAccount.objects.get(pk=account.pk).api_key == ""
