# The sender of the confirmation emails. SES sends a verification mail to this address; until
# it is verified (and while the account is in the SES sandbox) sends are rejected.
resource "aws_sesv2_email_identity" "sender" {
  email_identity = var.confirmation_sender
}
