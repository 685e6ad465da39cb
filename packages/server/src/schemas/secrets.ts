/** Secrets as the API shows them: names and times; a value only where an admin asks for it. */
import { Type } from 'typebox';

export const SecretKey = Type.String({
  pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$',
  description: 'letters, digits, _ . -',
});

export const SecretInfo = Type.Object(
  {
    key: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Secret' },
);
