// weft.nodes.NoOp: Heat's OS::Heat::None. Does nothing: derive a node type from it to stub out a
// resource; whatever properties the derived type declares are accepted and ignored, a change
// never updates nor replaces anything, and it has no attributes.
import { Resource } from '@weft/sdk';

export class NoOp extends Resource {
  override handleCreate(): null {
    this.resourceId = this.ctx.instance.id;
    return null;
  }

  override handleUpdate(): null {
    return null;
  }
}
