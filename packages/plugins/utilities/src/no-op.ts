// weft.nodes.NoOp: Heat's OS::Heat::None. Does nothing: derive a node type from it to stub out a
// resource; whatever properties the derived type declares are accepted and ignored, a change
// never updates nor replaces anything, and it has no attributes.
// weft.nodes.NestedStack: the node that stands for a HOT template's nested stack (a template
// resource, OS::Heat::Stack, a ResourceGroup or ResourceChain; the resources of the stack are
// nodes of their own). As NoOp, but every stack update updates it, changed or not.
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

/**
 * A nested stack's own resource: Heat's StackResource (and RemoteStack) _needs_update always
 * issues an update to the nested stack and lets the resources in it decide whether they change,
 * so the resource goes UPDATE_IN_PROGRESS, then UPDATE_COMPLETE in every stack update, its
 * definition changed or not. (The engine updates the nested stack's resources, nodes of their own.)
 */
export class StackResource extends NoOp {
  static override alwaysUpdates = true;
}
