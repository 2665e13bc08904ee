/// The running build, as `--version`, the User-Agent and `ewsprobe_build_info` name it.
public enum BuildInfo {
    public static let version = "0.1.0"
    public static let userAgent = "ewsprobe/\(version)"
}
