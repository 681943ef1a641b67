"""Signatures against the official test vectors, and sign/verify round trips."""

from hypothesis import given
from hypothesis import strategies as st

from payments.gateway.wechatpay.signing import SignType, sign, string_to_sign, verify

KEY = "192006250b4c09247ec02edce69f6a2d"
FIELDS = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}


def test_string_a_is_sorted_and_unencoded():
    assert string_to_sign(FIELDS) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100"
        "&nonce_str=ibuaiVcKdpRxkhJA"
    )


def test_md5_matches_the_official_vector():
    assert sign(FIELDS, KEY, SignType.MD5) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_hmac_sha256_matches_the_official_vector():
    assert sign(FIELDS, KEY, SignType.HMAC_SHA256) == (
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    )


def test_hmac_appends_the_key_suffix_unlike_the_wrong_variant():
    wrong = "F734F0E6B3509F9701F4A27CA72985EE10313DD0F96B71CAB42985D0F4F56376"
    assert sign(FIELDS, KEY, SignType.HMAC_SHA256) != wrong


def test_sign_type_field_is_signed_like_any_other():
    fields = {**FIELDS, "sign_type": "HMAC-SHA256"}
    assert sign(fields, KEY, SignType.HMAC_SHA256) == (
        "2C9DF1156522C0B2B03B4DBF3BCA5CACB602CBD5CA0F9E112458CF3E9855303B"
    )


def test_wechatpy_vectors():
    fields = {"test1": "test1", "test2": "test2"}
    assert sign(fields, KEY, SignType.MD5) == "1E3A8D73B5A4AEE787C0F68B5DAB8520"
    assert sign(fields, KEY, SignType.HMAC_SHA256) == (
        "EDAC6D70D2FDF5A2382F8204FC96A1918017E46ACC5297F565ED1A7610ACF659"
    )


def test_empty_values_and_sign_are_left_out():
    assert sign({**FIELDS, "attach": "", "sign": "X"}, KEY) == sign(FIELDS, KEY)


def test_missing_sign_does_not_verify():
    assert not verify(FIELDS, KEY)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
field_maps = st.dictionaries(names.filter(lambda n: n != "sign"), values, max_size=12)


@given(fields=field_maps, algorithm=st.sampled_from(list(SignType)))
def test_signed_fields_verify(fields, algorithm):
    signed = {**fields, "sign": sign(fields, KEY, algorithm)}
    assert verify(signed, KEY, algorithm)


@given(fields=field_maps, algorithm=st.sampled_from(list(SignType)), extra=values)
def test_any_changed_value_breaks_the_signature(fields, algorithm, extra):
    signed = {**fields, "sign": sign(fields, KEY, algorithm)}
    tampered = {**signed, "total_fee": (signed.get("total_fee", "") + "1" + extra)}
    assert not verify(tampered, KEY, algorithm)


@given(fields=field_maps, algorithm=st.sampled_from(list(SignType)))
def test_another_key_does_not_verify(fields, algorithm):
    signed = {**fields, "sign": sign(fields, KEY, algorithm)}
    assert not verify(signed, KEY[:-1] + "0" if KEY[-1] != "0" else KEY[:-1] + "1", algorithm)
