"""Inbound work for the background worker: deadlines, the phone channel, the mailboxes and the
customer's acknowledgement; every task is idempotent."""

from __future__ import annotations

from django_tasks import task

from otdel.inbound import deadlines, phone


@task()
def inbound_deadlines() -> dict[str, int]:
    """Owner deadlines, escalations, responses by call, the waiting queue (every minute)."""
    return deadlines.sweep()


@task()
def inbound_from_calls() -> int:
    """Missed and unknown inbound calls become requests."""
    return phone.requests_from_calls()


@task()
def acknowledge_request(request_id: int) -> bool:
    """E-mail the customer that we have his request, with its number."""
    from otdel.inbound import mail

    return mail.send_acknowledgement(request_id)


@task()
def poll_mailboxes() -> dict[str, int]:
    """Read new messages from every active inbound mailbox."""
    from otdel.inbound import mail

    return mail.poll_all()
