extension DashboardTemplates {
    /// The read pages of SPEC §7: overview, VMs, one VM, audit, history, what-if.
    static let pages: [String: String] = [
        "overview": """
        {{> head}}
        <section class="counts">
        {{#counts}}<a class="count {{tone}}" href="{{href}}"><strong>{{value}}</strong> {{label}}</a>{{/counts}}
        </section>
        <h2>Nodes</h2>
        <table class="nodes">
        <thead><tr><th>Node</th><th>State</th><th>Lease</th><th>Driver</th><th>VMs</th><th>Memory</th><th></th></tr></thead>
        <tbody>
        {{#nodes}}
        <tr data-node="{{name}}">
        <td><a href="{{vmsHref}}">{{name}}</a></td>
        <td><span class="state state-{{state}}">{{state}}</span></td>
        <td>{{lease}}</td>
        <td>{{driver}}</td>
        <td>{{vmCount}}</td>
        <td>{{memory}}</td>
        <td class="actions"><a href="{{whatifHref}}">what if it fails</a>\
        {{#drainHref}} · <a href="{{drainHref}}">drain</a>{{/drainHref}}\
        {{#resumeHref}} · <a href="{{resumeHref}}">resume</a>{{/resumeHref}}</td>
        </tr>
        {{/nodes}}
        {{^nodes}}<tr><td colspan="7">No node has reported yet.</td></tr>{{/nodes}}
        </tbody>
        </table>
        <h2>Reachability</h2>
        <p class="hint">A cell is marked when the node mounts the volume and its last probe there passed. A VM can only \
        move to nodes that reach every one of its files.</p>
        <table class="matrix">
        <thead><tr><th>Volume</th><th>Kind</th>{{#matrixNodes}}<th>{{.}}</th>{{/matrixNodes}}</tr></thead>
        <tbody>
        {{#volumes}}
        <tr data-volume="{{name}}">
        <th scope="row">{{name}}</th><td><span class="kind kind-{{kind}}">{{kind}}</span></td>
        {{#cells}}<td class="cell {{tone}}" title="{{title}}">{{mark}}</td>{{/cells}}
        </tr>
        {{/volumes}}
        {{^volumes}}<tr><td colspan="2">No volume has been reported yet.</td></tr>{{/volumes}}
        </tbody>
        </table>
        {{> foot}}
        """,
        "vms": """
        {{> head}}
        <form class="filters" method="get" action="/ui/vms">
        <label>Name <input type="search" name="q" value="{{filter.query}}"></label>
        <label>Owner <select name="node" data-autosubmit>
        <option value="">any node</option>
        {{#filter.nodes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/filter.nodes}}
        </select></label>
        <label>Risk <select name="risk" data-autosubmit>
        {{#filter.risks}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/filter.risks}}
        </select></label>
        <button type="submit">Filter</button>
        </form>
        {{> pager}}
        <table class="vms">
        <thead><tr><th>VM</th><th>Owner</th><th>State</th><th>HA</th><th>Checkpoints</th><th>Epoch</th><th>Risks</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-vm="{{name}}"{{#stranded}} class="stranded"{{/stranded}}>
        <td><a class="vm-name" href="{{href}}">{{name}}</a></td>
        <td>{{owner}}</td><td>{{state}}</td><td>{{ha}}</td><td>{{checkpoints}}</td><td>{{epoch}}</td>
        <td>{{#badges}}<span class="badge {{tone}}">{{code}}</span> {{/badges}}</td>
        </tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="7">No VM matches.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{> pager}}
        {{> foot}}
        """,
        "vm": """
        {{> head}}
        {{#vm}}
        <dl class="facts">
        <dt>Owner</dt><dd>{{owner}}</dd><dt>State</dt><dd>{{state}}</dd><dt>Epoch</dt><dd>{{epoch}}</dd>
        <dt>Highly available</dt><dd>{{ha}}</dd><dt>Id</dt><dd><code>{{id}}</code></dd>
        </dl>
        {{/vm}}
        <h2>Risks</h2>
        {{#hasRisks}}
        <ul class="risks">
        {{#risks}}<li class="risk {{severity}}"><code class="code">{{code}}</code> {{message}}\
        {{#path}}<br><span class="path">{{path}}</span>{{/path}}</li>{{/risks}}
        </ul>
        {{/hasRisks}}
        {{^risks}}<p class="ok">None: every file is where its possible owners can reach it.</p>{{/risks}}
        {{#repairHref}}<form class="action" method="get" action="{{repairHref}}">
        <input type="hidden" name="volume" value="{{repairVolume}}">
        <button type="submit">Repair: move the stranded files to {{repairVolume}}…</button>
        </form>{{/repairHref}}
        <h2>Checkpoints</h2>
        {{#hasSnapshots}}<ul class="tree">{{#snapshots}}{{> snapshot}}{{/snapshots}}</ul>{{/hasSnapshots}}
        {{^snapshots}}<p>No checkpoints.</p>{{/snapshots}}
        <form class="action" method="get" action="{{checkpointHref}}">
        <input type="hidden" name="action" value="create">
        <label>New checkpoint <input type="text" name="name" pattern="[A-Za-z0-9_][A-Za-z0-9._-]{0,63}" required></label>
        <label><input type="checkbox" name="memory"> with memory</label>
        <button type="submit">Check the location first…</button>
        </form>
        <h2>Chains, leaf to base</h2>
        {{#chains}}
        <div class="chain" data-chain="{{label}}">
        <span class="chain-label">{{label}}</span>
        <ol>{{#links}}<li class="link {{tone}}" data-path="{{path}}" title="{{path}}: {{reach}}">{{file}}</li>{{/links}}</ol>
        </div>
        {{/chains}}
        {{^chains}}<p>No disk chains.</p>{{/chains}}
        <h2>Files</h2>
        <p class="legend"><span class="link reach-all">every node</span> <span class="link reach-some">some nodes</span>
        <span class="link reach-owner">the owner only</span> <span class="link reach-none">no node</span></p>
        <table class="files">
        <thead><tr><th>Path</th><th>Kind</th><th>Volume</th><th>Format</th><th>Size</th><th>Reachable from</th></tr></thead>
        <tbody>
        {{#files}}
        <tr class="{{tone}}" data-path="{{path}}">
        <td class="path">{{path}}{{#problem}} <span class="badge critical">{{problem}}</span>{{/problem}}</td>
        <td>{{kind}}</td><td>{{volume}}</td><td>{{format}}</td><td>{{size}}</td>
        <td>{{#nodes}}<span class="node {{#reaches}}yes{{/reaches}}{{^reaches}}no{{/reaches}}">{{name}}</span> {{/nodes}}</td>
        </tr>
        {{/files}}
        </tbody>
        </table>
        <h2>Move</h2>
        <form class="action" method="get" action="{{migrateHref}}">
        <label>Migrate to <select name="to">
        {{#targets}}<option value="{{.}}">{{.}}</option>{{/targets}}
        </select></label>
        <button type="submit">Check first…</button>
        </form>
        <p><a href="{{historyHref}}">History of this VM</a></p>
        {{> foot}}
        """,
        "snapshot": """
        <li><span class="snapshot">{{name}}</span>{{#created}} <time>{{created}}</time>{{/created}} \
        <a class="small" href="{{deleteHref}}">delete…</a> <a class="small" href="{{revertHref}}">revert…</a>\
        {{#hasChildren}}<ul>{{#children}}{{> snapshot}}{{/children}}</ul>{{/hasChildren}}</li>
        """,
        "audit": """
        {{> head}}
        <form class="filters" method="get" action="/ui/audit">
        <label>Severity <select name="severity" data-autosubmit>
        {{#filter}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/filter}}
        </select></label>
        <button type="submit">Filter</button>
        </form>
        {{> pager}}
        <table class="audit">
        <thead><tr><th>Severity</th><th>Risk</th><th>VM</th><th>Node</th><th>Volume</th><th>What to do</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr class="{{severity}}">
        <td><span class="badge {{severity}}">{{severity}}</span></td><td><code class="code">{{code}}</code></td>
        <td>{{#href}}<a href="{{href}}">{{vm}}</a>{{/href}}{{^href}}{{vm}}{{/href}}</td>
        <td>{{node}}</td><td>{{volume}}</td>
        <td>{{message}}{{#path}}<br><span class="path">{{path}}</span>{{/path}}</td>
        </tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="6">No risk: every VM can fail over as its policy says.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{> pager}}
        {{> foot}}
        """,
        "history": """
        {{> head}}
        {{#vmFilter}}<p>Moves of <strong>{{vmFilter}}</strong> · <a href="/ui/history">all VMs</a></p>{{/vmFilter}}
        {{> pager}}
        <table class="history">
        <thead><tr><th>When</th><th>VM</th><th>Kind</th><th>From → to</th><th>Epoch</th><th>State</th>\
        <th>By</th><th>Why not</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr class="state-{{state}}">
        <td><time>{{created}}</time></td><td><a href="{{href}}">{{vm}}</a></td><td>{{kind}}</td>
        <td>{{source}} → {{target}}</td><td>{{epoch}}</td><td>{{state}}</td><td>{{requestedBy}}</td>
        <td>{{abortReason}}{{#hasReasons}}{{> reasons}}{{/hasReasons}}</td>
        </tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="8">No migration or failover has been journaled.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{> pager}}
        {{> foot}}
        """,
        "whatif": """
        {{> head}}
        <form class="filters" method="get" action="/ui/whatif">
        <label>If this node failed now <select name="node" data-autosubmit>
        {{^plan}}<option value="" selected>choose a node</option>{{/plan}}
        {{#nodes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/nodes}}
        </select></label>
        <button type="submit">Plan</button>
        </form>
        {{#plan}}
        <h2>Would move ({{moveCount}})</h2>
        <table class="moves">
        <thead><tr><th>VM</th><th>To</th></tr></thead>
        <tbody>
        {{#moves}}<tr data-vm="{{vm}}"><td><a href="{{href}}">{{vm}}</a></td><td>{{target}}</td></tr>{{/moves}}
        {{^moves}}<tr><td colspan="2">Nothing would move.</td></tr>{{/moves}}
        </tbody>
        </table>
        <h2>Would be held ({{blockedCount}})</h2>
        <table class="blocked">
        <thead><tr><th>VM</th><th>Why</th></tr></thead>
        <tbody>
        {{#blocked}}<tr data-vm="{{vm}}"><td><a href="{{href}}">{{vm}}</a></td><td>{{> reasons}}</td></tr>{{/blocked}}
        {{^blocked}}<tr><td colspan="2">No VM would be held.</td></tr>{{/blocked}}
        </tbody>
        </table>
        {{/plan}}
        {{> foot}}
        """,
    ]
}
