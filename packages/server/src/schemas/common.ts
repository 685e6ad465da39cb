/** Schemas shared by the routes: the error body, roles, paging. They validate and document. */
import { type TSchema, Type } from 'typebox';
import { ROLES } from '../store/access.js';

export const ErrorBody = Type.Object(
  {
    code: Type.String({
      description: 'machine-readable: unauthorized, forbidden, not_found, conflict, invalid...',
    }),
    message: Type.String({ description: 'one line for a person' }),
    details: Type.Unknown({
      description: 'what the code needs to say more (validation problems...), or null',
    }),
  },
  { $id: 'Error', description: 'Every error the API answers' },
);

export const Role = Type.Union([Type.Literal(ROLES[0]), Type.Literal(ROLES[1]), Type.Literal(ROLES[2])], {
  description: 'viewer < operator < admin, within one tenant',
});

export const Name = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$',
  description: 'a name or id',
});

/** The error responses every authenticated route may answer, for the OpenAPI document. */
export const AUTH_ERRORS = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
} as const;

export const NameParams = Type.Object({ name: Name });
export const IdParams = Type.Object({ id: Name });

/** A value or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** A page of a list: `items` from `offset`, at most `size` of them, of `total`. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    total: Type.Integer(),
    offset: Type.Integer(),
    size: Type.Integer(),
  });

export const PageQuery = {
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
};
