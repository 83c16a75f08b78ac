"""template/: `{{ var }}` templates as Ansible writes them: Jinja2 in a sandbox, bounded in
time, output size and integer size. Used by the inventory (connection variables) and the
playbook language; imports only deployer.source.

    render.py   Renderer(variables).render(value): lazy variables, undefined is an error
    sandbox.py  the Jinja sandbox, with the size checks built into its operators
    limits.py   what one template may cost, and the CPU-time timer
"""
