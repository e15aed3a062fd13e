package pay

const stripeKey = "rk_live_YEIi75qB4sA9Q0NksyRRM3NQ"
