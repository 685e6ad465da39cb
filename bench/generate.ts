/**
 * Generates a blueprint of `templates` node templates: one Compute host in every five,
 * `perHost` instances each, with four software tiers contained in each host, wired with
 * connected_to (same host) and depends_on (the previous host's database, all_to_all).
 */
export function generateBlueprint(templates: number, perHost = 5): string {
  const lines: string[] = [
    'tosca_definitions_version: cloudify_dsl_1_3',
    'imports:',
    '  - cloudify/types/types.yaml',
    'plugins:',
    '  bench:',
    '    executor: central_deployment_agent',
    '    install: false',
    'inputs:',
    '  port:',
    '    type: integer',
    '    default: 8080',
    '    constraints: [{in_range: [1, 65535]}]',
    'node_types:',
    '  bench.App:',
    '    derived_from: cloudify.nodes.ApplicationServer',
    '    properties:',
    '      port: {type: integer, constraints: [{greater_than: 0}]}',
    '      name: {type: string, default: app}',
    '    interfaces:',
    '      cloudify.interfaces.lifecycle:',
    '        create: bench.tasks.create',
    '        start: {implementation: bench.tasks.start, inputs: {port: {default: 1}}}',
    '        stop: bench.tasks.stop',
    '        delete: bench.tasks.delete',
    'node_templates:',
  ];
  const hosts = Math.ceil(templates / 5);
  for (let h = 0; h < hosts; h++) {
    lines.push(
      `  host_${h}:`,
      '    type: cloudify.nodes.Compute',
      '    properties: {ip: 127.0.0.1, agent_config: {install_method: none}}',
      `    capabilities: {scalable: {properties: {default_instances: ${perHost}}}}`,
    );
    const tiers = ['db', 'app', 'web', 'lb'].slice(0, Math.min(4, templates - h * 5 - 1));
    tiers.forEach((tier, i) => {
      lines.push(
        `  ${tier}_${h}:`,
        '    type: bench.App',
        `    properties: {port: {get_input: port}, name: ${tier}}`,
        '    relationships:',
        `      - {type: cloudify.relationships.contained_in, target: host_${h}}`,
      );
      if (i > 0)
        lines.push(`      - {type: cloudify.relationships.connected_to, target: ${tiers[i - 1]}_${h}}`);
      if (tier === 'db' && h > 0)
        lines.push(`      - {type: cloudify.relationships.depends_on, target: db_${h - 1}}`);
    });
  }
  return `${lines.join('\n')}\n`;
}
