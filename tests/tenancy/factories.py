"""factory_boy factories for tenancy rows. States are set directly here: tests of the services
and state machines start from them; production code changes state only through move()."""

import datetime

import factory
from django.contrib.auth import get_user_model

from tenancy.models import (
    Enterprise,
    EnterpriseState,
    Membership,
    Merchant,
    OnboardingState,
    StaffProfile,
    Store,
    TenantRole,
)
from tenancy.validators import CREDIT_CODE_ALPHABET, credit_code_check_char

PASSWORD = "correct horse battery staple"


def credit_code(n: int) -> str:
    """Return a valid unified social credit code, distinct for every n."""
    body = "91310000"
    digits = []
    for _ in range(9):
        n, rest = divmod(n, 31)
        digits.append(CREDIT_CODE_ALPHABET[rest])
    first17 = body + "".join(reversed(digits))
    return first17 + credit_code_check_char(first17)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffProfile

    user = factory.SubFactory(UserFactory)
    role = "ops_admin"


class EnterpriseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enterprise

    legal_name = factory.Sequence(lambda n: f"Enterprise {n} Trading Co., Ltd.")
    display_name = factory.Sequence(lambda n: f"Enterprise {n}")
    credit_code = factory.Sequence(credit_code)
    contact_name = "Li Lei"
    contact_email = factory.Sequence(lambda n: f"contact{n}@enterprise.example")
    contact_phone = "13800000000"
    address = "1 Nanjing Road, Shanghai"
    state = EnterpriseState.TRIAL
    trial_ends_on = datetime.date(2099, 1, 1)
    trial_starts_on = factory.LazyAttribute(
        lambda o: o.trial_ends_on and o.trial_ends_on - datetime.timedelta(days=90)
    )
    terminal_quota = 10


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"Merchant {n}")
    category = "retail"
    settlement_bank_name = "ICBC"
    settlement_account_name = factory.LazyAttribute(lambda o: o.name)
    settlement_account_number = "6222020200112345678"
    legal_rep_name = "Han Meimei"
    legal_rep_id_number = "110101199003071234"
    onboarding_state = OnboardingState.FINISHED
    sub_mch_id = factory.Sequence(lambda n: f"1900{n:06d}")

    class Params:
        editing = factory.Trait(onboarding_state=OnboardingState.EDITING, sub_mch_id=None)


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    enterprise = factory.SelfAttribute("merchant.enterprise")
    name = factory.Sequence(lambda n: f"Store {n}")
    address = "100 Century Avenue"
    city = "Shanghai"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = TenantRole.ENTERPRISE_ADMIN
    enterprise = factory.SubFactory(EnterpriseFactory)
