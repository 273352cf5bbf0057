"""How the checkout shows Stripe."""

from ..base import Presentation

PRESENTATION = Presentation(
    label="Stripe",
    note="Cards, Apple Pay, Google Pay",
    logo="img/gateways/stripe.svg",
    hosted_origins=("https://checkout.stripe.com",),
)
