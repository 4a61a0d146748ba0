/** A payments.transactions row (the fraud pipeline's input) in Debezium's JSON forms, with overrides. */
export function paymentRow(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    transaction_id: '6f1c0a4e-8a0e-4c36-9a52-2d4b1f7b1e10',
    card_id: 42,
    amount: 129.5,
    currency: 'EUR',
    merchant_country: 'DE',
    card_country: 'FR',
    merchant_risk: 0.2,
    velocity_1h: 3,
    card_issued_on: 19000,
    created_at: '2024-05-01T12:30:00Z',
    ...over,
  };
}
