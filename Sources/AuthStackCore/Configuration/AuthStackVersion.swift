/// The version every program reports (`--version`), raised with each release noted in docs/changelog.md.
public enum AuthStackVersion {
    /// The current version.
    public static let current = "0.3.0"
}
