import stripe

stripe.api_key = "sk_live_hYBJFaiakAWwIPaTgZIg3RSW"
