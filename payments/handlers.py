"""Device messages that belong to payments, registered with the terminal protocol at start-up."""

from terminals.protocol import DeviceIdentity, Scan


def on_scan(identity: DeviceIdentity, frame: Scan) -> None:
    """A terminal scanned a customer's payment code: pay the payment waiting on that terminal.

    The terminal comes from the device credential (identity), never from the frame.
    """
    from payments.services.payments import payment_scan

    payment_scan(
        terminal_id=identity.terminal_id,
        scan_ref=frame.id,
        code=frame.code,
        amount_fen=frame.amount_fen,
    )
