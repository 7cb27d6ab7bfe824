// Execution samples of a Java Flight Recorder file, counted by frame per time window (not a test).
//
//     java bench/JfrFrames.java RECORDING.jfr WINDOWS.tsv KINDS.tsv THREAD_PREFIX > frames.json
//
// WINDOWS.tsv: one line per window, `name<TAB>start epoch ms<TAB>end epoch ms` (bench/profile_jfr.py
// writes it from the phases of a greenlink run). KINDS.tsv: `kind<TAB>frame substring` lines. Only
// samples of threads whose name starts with THREAD_PREFIX count ("" = all threads; "Executor task "
// = Spark's tasks, launch or idle workers). For each window, and for "all": the number of samples; per frame
// (class.method, generated-class and lambda numbers dropped) how many samples it tops (self) and how
// many hold it anywhere in their stack (inclusive, once per sample); per kind how many samples have
// it as their innermost kind (the first frame from the top that matches a kind's substring: a regex
// called from generated code inside a cache build counts as regex, once). Run by the JDK as a
// single-file program (JEP 330): nothing to build.
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

public class JfrFrames {
    static final Pattern LAMBDA = Pattern.compile("\\$\\$Lambda.*");
    static final Pattern NUMBERED = Pattern.compile("(CodegenStage|GeneratedClass\\$|Stage|Projection)(\\d+)");

    static final class Tally {
        long samples;
        final Map<String, Long> self = new HashMap<>();
        final Map<String, Long> inclusive = new HashMap<>();
        final Map<String, Long> kinds = new HashMap<>();

        void add(List<String> stack, String kind) {
            samples++;
            kinds.merge(kind, 1L, Long::sum);
            if (!stack.isEmpty()) self.merge(stack.get(0), 1L, Long::sum);
            Set<String> seen = new HashSet<>(stack);
            for (String f : seen) inclusive.merge(f, 1L, Long::sum);
        }
    }

    record Window(String name, long start, long end) {}

    record Kind(String name, String marker) {}

    static String kindOf(List<String> stack, List<Kind> kinds) {
        for (String f : stack) {
            for (Kind k : kinds) if (f.contains(k.marker)) return k.name;
        }
        return "other";
    }

    static String frameName(RecordedFrame f) {
        if (f.getMethod() == null) return "?";
        String type = f.getMethod().getType() == null ? "?" : f.getMethod().getType().getName();
        type = NUMBERED.matcher(LAMBDA.matcher(type).replaceAll("\\$\\$Lambda")).replaceAll("$1");
        return type + "." + f.getMethod().getName();
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void writeMap(StringBuilder out, Map<String, Long> m) {
        out.append('{');
        boolean first = true;
        for (Map.Entry<String, Long> e : m.entrySet()) {
            if (!first) out.append(',');
            first = false;
            out.append(quote(e.getKey())).append(':').append(e.getValue());
        }
        out.append('}');
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: java JfrFrames.java RECORDING.jfr WINDOWS.tsv KINDS.tsv THREAD_PREFIX");
            System.exit(2);
        }
        List<Window> windows = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            String[] p = line.split("\t");
            if (p.length == 3) windows.add(new Window(p[0], Long.parseLong(p[1]), Long.parseLong(p[2])));
        }
        List<Kind> kinds = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[2]))) {
            String[] p = line.split("\t");
            if (p.length == 2) kinds.add(new Kind(p[0], p[1]));
        }
        String prefix = args[3];
        Map<String, Tally> tallies = new HashMap<>();
        Tally all = new Tally();
        long threadsSkipped = 0;
        try (RecordingFile rf = new RecordingFile(Path.of(args[0]))) {
            while (rf.hasMoreEvents()) {
                RecordedEvent e = rf.readEvent();
                if (!e.getEventType().getName().equals("jdk.ExecutionSample") || e.getStackTrace() == null) continue;
                RecordedThread t = e.getThread("sampledThread");
                String tname = t == null || t.getJavaName() == null ? "" : t.getJavaName();
                if (!tname.startsWith(prefix)) {
                    threadsSkipped++;
                    continue;
                }
                List<String> stack = new ArrayList<>();
                for (RecordedFrame f : e.getStackTrace().getFrames()) stack.add(frameName(f));
                String kind = kindOf(stack, kinds);
                all.add(stack, kind);
                long at = e.getStartTime().toEpochMilli();
                for (Window w : windows) {
                    if (at >= w.start && at < w.end) tallies.computeIfAbsent(w.name, k -> new Tally()).add(stack, kind);
                }
            }
        }
        StringBuilder out = new StringBuilder("{\"other_thread_samples\":").append(threadsSkipped).append(",\"windows\":{");
        List<String> names = new ArrayList<>();
        names.add("all");
        for (Window w : windows) if (!names.contains(w.name)) names.add(w.name);
        boolean first = true;
        for (String n : names) {
            Tally t = n.equals("all") ? all : tallies.getOrDefault(n, new Tally());
            if (!first) out.append(',');
            first = false;
            out.append(quote(n)).append(":{\"samples\":").append(t.samples).append(",\"self\":");
            writeMap(out, t.self);
            out.append(",\"inclusive\":");
            writeMap(out, t.inclusive);
            out.append(",\"kinds\":");
            writeMap(out, t.kinds);
            out.append('}');
        }
        System.out.println(out.append("}}"));
    }
}
