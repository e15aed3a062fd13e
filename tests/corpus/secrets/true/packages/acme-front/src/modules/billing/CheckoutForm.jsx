import { useState } from 'react';
import Stripe from 'stripe';

// server-side rendering helper: charges the card directly
const stripe = new Stripe('sk_live_r66vj5RrmrO0qFAcKyOH862wYY2E7rCX');

export const CheckoutForm = ({ amount }) => {
  const [showCvc, setShowCvc] = useState(false);
  return (
    <form method="post" action="/checkout">
      <input name="card" autoComplete="cc-number" inputMode="numeric" />
      <input name="cvc" type={showCvc ? 'text' : 'password'} autoComplete="cc-csc" password="true" />
      <input type="password" name="account_password" autoComplete="current-password" />
      <button type="submit">Pay {amount}</button>
    </form>
  );
};
