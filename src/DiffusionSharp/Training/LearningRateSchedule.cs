namespace DiffusionSharp.Training;

/// <summary>Linear warm-up to the peak rate, then cosine decay to <c>minRatio</c>·peak at <c>totalSteps</c>.</summary>
public static class LearningRateSchedule
{
    /// <summary>The learning rate for optimizer step <paramref name="step"/> (0-based).</summary>
    public static double At(int step, double peak, int warmupSteps, int totalSteps, double minRatio = 0.0)
    {
        if (warmupSteps > 0 && step < warmupSteps)
            return peak * (step + 1) / warmupSteps;
        int decaySteps = Math.Max(1, totalSteps - warmupSteps);
        double progress = Math.Clamp((double)(step - warmupSteps) / decaySteps, 0.0, 1.0);
        double cosine = 0.5 * (1.0 + Math.Cos(Math.PI * progress));
        return peak * (minRatio + (1.0 - minRatio) * cosine);
    }
}
