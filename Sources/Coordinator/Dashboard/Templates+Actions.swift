extension DashboardTemplates {
    /// Log-in, confirmations before an action, results, and errors.
    static let actions: [String: String] = [
        "login": """
        {{> head}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form class="login" method="post" action="/ui/login">
        <input type="hidden" name="next" value="{{next}}">
        <label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
        <button type="submit">Log in</button>
        </form>
        <p class="hint">An admin token from the coordinator's <code>adminTokens</code>. The session lives in an HttpOnly \
        cookie for this browser only and ends after an hour without use, or when the token is removed.</p>
        {{> foot}}
        """,
        "confirm": """
        {{> head}}
        <p class="question">{{question}}</p>
        {{#verdict}}
        <p class="verdict {{tone}}"><strong>{{headline}}</strong></p>
        {{#hasReasons}}{{> reasons}}{{/hasReasons}}
        {{/verdict}}
        {{#hasMoves}}
        <h2>Would move</h2>
        <table class="moves"><thead><tr><th>VM</th><th>To</th></tr></thead><tbody>
        {{#moves}}<tr><td>{{vm}}</td><td>{{target}}</td></tr>{{/moves}}
        </tbody></table>
        {{/hasMoves}}
        {{#hasStays}}
        <h2>Would stay</h2>
        <table class="blocked"><thead><tr><th>VM</th><th>Why</th></tr></thead><tbody>
        {{#stays}}<tr><td>{{vm}}</td><td>{{> reasons}}</td></tr>{{/stays}}
        </tbody></table>
        {{/hasStays}}
        {{#canProceed}}
        <form class="action" method="post" action="{{action}}">
        <input type="hidden" name="csrf" value="{{frame.viewer.csrf}}">
        {{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}
        <button type="submit" class="primary">{{button}}</button>
        <a href="{{cancelHref}}">Cancel</a>
        </form>
        {{/canProceed}}
        {{^canProceed}}<p><a href="{{cancelHref}}">Back</a></p>{{/canProceed}}
        {{> foot}}
        """,
        "result": """
        {{> head}}
        <p class="verdict {{tone}}"><strong>{{headline}}</strong></p>
        {{#detail}}<p>{{detail}}</p>{{/detail}}
        {{#hasReasons}}{{> reasons}}{{/hasReasons}}
        {{#hasRows}}
        <table class="result"><tbody>
        {{#rows}}<tr><td>{{vm}}</td><td>{{outcome}}</td><td>{{#hasReasons}}{{> reasons}}{{/hasReasons}}</td></tr>{{/rows}}
        </tbody></table>
        {{/hasRows}}
        <p>{{#links}}<a href="{{href}}">{{label}}</a> {{/links}}</p>
        {{> foot}}
        """,
        "error": """
        {{> head}}
        <p class="error" role="alert"><code class="code">{{code}}</code> {{message}}</p>
        <p><a href="/ui">Overview</a></p>
        {{> foot}}
        """,
    ]
}
