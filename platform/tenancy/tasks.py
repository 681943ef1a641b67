from celery import shared_task

from tenancy.services.enterprises import enterprise_trial_sweep


@shared_task(
    name="tenancy.trial_expiry_sweep", ignore_result=True, soft_time_limit=120, time_limit=180
)
def trial_expiry_sweep() -> dict:
    """Warn trials ending soon and suspend trials that have ended (hourly; safe to run twice)."""
    return enterprise_trial_sweep()
