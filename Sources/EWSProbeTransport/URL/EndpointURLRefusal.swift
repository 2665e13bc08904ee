/// What to say about a URL that `EndpointURL` refused. A URL with user information
/// (`https://user:password@host/`) is refused and never repeated: the part after the colon is a
/// password, and an error message ends up in terminals, logs and HTTP answers.
public enum EndpointURLRefusal {
    public static func message(for text: String) -> String {
        if carriesUserinfo(text) {
            return "the URL carries user information (user:password@host), which is refused and not repeated here: "
                + "give the account as username and the password as password_file or password_env"
        }
        return "invalid URL \"\(text)\" (expected https://host[:port]/EWS/Exchange.asmx, ldaps://host[:port] or ldap://host[:port])"
    }

    /// Any `@` in a refused URL may be the end of user information; parsers disagree on where the
    /// authority ends when the password holds `/`, `?` or `#`, so the whole text is withheld.
    public static func carriesUserinfo(_ text: String) -> Bool { text.contains("@") }
}
