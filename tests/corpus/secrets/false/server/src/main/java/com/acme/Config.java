public class Config {
    private static final String PASSWORD_KEY = "password";
    @Value("${db.password}")
    private String password;
}
