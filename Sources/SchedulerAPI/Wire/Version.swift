/// The version of schedd and schedctl.
public enum Version {
    public static let current = "0.1.0"
}
