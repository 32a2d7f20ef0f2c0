// pg_forget from Java over JDBC (Debian's libpostgresql-jdbc-java): bind parameters only, SQLSTATEs checked.
// Each check prints "ok <name>" or "not ok <name>"; the exit status is the number of failures.
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.*;
import java.time.OffsetDateTime;

public class Client {
    static int failures = 0;

    static void check(String name, boolean cond) {
        System.out.println((cond ? "ok " : "not ok ") + name);
        if (!cond) failures++;
    }

    static String sqlstate(Connection c, String sql, Array arg) {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setArray(1, arg);
            ps.executeQuery();
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    public static void main(String[] args) throws Exception {
        String port = System.getenv().getOrDefault("PGFORGET_PORT", "55432");
        String db = "pgf_driver_java";
        String base = "jdbc:postgresql://127.0.0.1:" + port + "/";
        String fixture = Files.readString(Path.of(args[0]));
        try (Connection a = DriverManager.getConnection(base + "postgres", "postgres", "")) {
            a.createStatement().execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
            a.createStatement().execute("CREATE DATABASE " + db);
        }
        try (Connection c = DriverManager.getConnection(base + db, "postgres", "")) {
            c.setAutoCommit(true);
            c.createStatement().execute(fixture);
            long job;
            try (PreparedStatement ps = c.prepareStatement("SELECT forget.anonymize_users(?)")) {
                ps.setArray(1, c.createArrayOf("text", new String[] {"alice"}));
                ResultSet rs = ps.executeQuery();
                rs.next();
                job = rs.getLong(1);
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT status FROM forget.job_status(?)")) {
                ps.setLong(1, job);
                ResultSet rs = ps.executeQuery();
                rs.next();
                check("anonymize_users with a text[] parameter", "done".equals(rs.getString(1)));
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT sum(row_count) FROM forget.job_report(?) WHERE table_name = ? AND action = 'masked'")) {
                ps.setLong(1, job);
                ps.setString(2, "users");
                ResultSet rs = ps.executeQuery();
                rs.next();
                check("job_report per column", rs.getLong(1) == 2);
            }
            long job2;
            try (PreparedStatement ps = c.prepareStatement("SELECT forget.create_anonymization_job(?, ?, ?, ?, ?)")) {
                ps.setObject(1, OffsetDateTime.parse("2026-01-01T00:00:00Z"));
                ps.setObject(2, OffsetDateTime.parse("2026-01-03T02:00:00Z"));
                ps.setArray(3, c.createArrayOf("text", new String[] {"carol"}));
                ps.setArray(4, c.createArrayOf("inet", new String[] {"10.0.0.7/32"}));
                ps.setNull(5, Types.ARRAY);
                ResultSet rs = ps.executeQuery();
                rs.next();
                job2 = rs.getLong(1);
                check("create_anonymization_job with timestamptz, text[] and inet[] parameters", job2 > job);
            }
            try (CallableStatement cs = c.prepareCall("CALL forget.run_jobs(?)")) {
                cs.setInt(1, 10);
                cs.execute();
            }
            String status = null;
            long done = -1;
            long deadline = System.currentTimeMillis() + 30000;
            while (true) {
                try (PreparedStatement ps = c.prepareStatement("SELECT status, rows_done FROM forget.job_status(?)")) {
                    ps.setLong(1, job2);
                    ResultSet rs = ps.executeQuery();
                    rs.next();
                    status = rs.getString(1);
                    done = rs.getLong(2);
                }
                if ("done".equals(status) || "failed".equals(status) || System.currentTimeMillis() > deadline) break;
                Thread.sleep(200);
            }
            check("CALL forget.run_jobs() and polling job_status", "done".equals(status) && done == 26);
            check("a failing call reports SQLSTATE 22023",
                  "22023".equals(sqlstate(c, "SELECT forget.anonymize_users(?)", c.createArrayOf("text", new String[] {""}))));
            check("a NULL element reports SQLSTATE 22004",
                  "22004".equals(sqlstate(c, "SELECT forget.anonymize_users(?)", c.createArrayOf("text", new String[] {"x", null}))));
        }
        try (Connection a = DriverManager.getConnection(base + "postgres", "postgres", "")) {
            a.createStatement().execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
        }
        System.exit(failures);
    }
}
